import { ChatCore1764000000000 } from './1764000000000-ChatCore';

/** Every migration, oldest first. Listed here, not globbed, so dev (TypeScript) and dist (JavaScript) agree. */
export const MIGRATIONS = [ChatCore1764000000000];
