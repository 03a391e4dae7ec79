import { ChatCore1764000000000 } from './1764000000000-ChatCore';
import { Business1764100000000 } from './1764100000000-Business';
import { ResolvedSeq1764200000000 } from './1764200000000-ResolvedSeq';
import { LastDeletedAt1764300000000 } from './1764300000000-LastDeletedAt';

/** Every migration, oldest first. Listed here, not globbed, so dev (TypeScript) and dist (JavaScript) agree. */
export const MIGRATIONS = [
  ChatCore1764000000000,
  Business1764100000000,
  ResolvedSeq1764200000000,
  LastDeletedAt1764300000000,
];
