import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { currentTracing } from './tracing';

/**
 * Exports the spans still buffered when the app closes (SIGTERM, `app.close()`), so the last
 * requests before a shutdown are not lost. Nothing to do when tracing is off.
 */
@Injectable()
export class TracingLifecycle implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await currentTracing()
      .forceFlush()
      .catch(() => undefined);
  }
}
