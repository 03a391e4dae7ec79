import { existsSync } from 'node:fs';
import path from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';

/** Where `npm run build:web` (Vite, client/vite.config.mts) puts the web app; the same from src/ and dist/. */
export const WEB_APP_DIR = path.resolve(__dirname, '../../dist/web-app');

/**
 * Serves the web client at `/app` (static files built by Vite). The rest of the service runs without
 * a content security policy (the API docs need inline scripts); the app gets a strict one: its own
 * scripts, styles and socket only.
 */
export function serveWebApp(app: NestExpressApplication, dir = WEB_APP_DIR): void {
  app.use(
    '/app',
    helmet.contentSecurityPolicy({
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'https:'],
        connectSrc: ["'self'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
      },
    }),
  );
  if (!existsSync(path.join(dir, 'index.html'))) {
    app.use('/app', (_req: Request, res: Response, _next: NextFunction) => {
      res.status(404).type('text/plain').send('The web app is not built: run `npm run build:web`.\n');
    });
    return;
  }
  app.useStaticAssets(dir, {
    prefix: '/app',
    index: 'index.html',
    setHeaders: (res, file) =>
      res.setHeader(
        'cache-control',
        file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ),
  });
}
