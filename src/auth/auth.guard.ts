import {
  createParamDecorator,
  Inject,
  Injectable,
  SetMetadata,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppError, rateLimited } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { MetricsService } from '../observability/metrics.service';
import { SlidingWindow } from '../state/sliding-window';
import { bearerToken, TokenVerifier, type AuthUser } from './token-verifier';

const PUBLIC = 'auth:public';
const ROLES = 'auth:roles';

/** Marks a route that needs no token (health, metrics, docs). */
export const Public = () => SetMetadata(PUBLIC, true);
/** Restricts a route to tokens carrying one of these roles (e.g. `admin`). */
export const Roles = (...roles: string[]) => SetMetadata(ROLES, roles);

export type AuthedRequest = Request & { user?: AuthUser };

/** The authenticated caller of a guarded route. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthUser => {
  const user = ctx.switchToHttp().getRequest<AuthedRequest>().user;
  if (!user) throw new AppError('UNAUTHENTICATED', 'Not authenticated');
  return user;
});

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(), and each user gets
 * REST_RATE_LIMIT requests per REST_RATE_WINDOW_S (sliding window, shared across instances).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly reflector: Reflector,
    private readonly limiter: SlidingWindow,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    req.user = await this.verifier.verify(bearerToken(req.headers.authorization));
    const roles = this.reflector.getAllAndOverride<string[] | undefined>(ROLES, targets);
    if (roles?.length && !roles.some((r) => req.user!.roles.includes(r)))
      throw new AppError('FORBIDDEN', `Requires role ${roles.join(' or ')}`);
    const { REST_RATE_LIMIT: limit, REST_RATE_WINDOW_S: windowS } = this.config;
    const verdict = await this.limiter.hit(`rest:${req.user.id}`, limit, windowS * 1000);
    if (!verdict.allowed) {
      this.metrics.rateLimited.inc({ scope: 'rest' });
      throw rateLimited('Too many requests', verdict.retryAfterMs);
    }
    return true;
  }
}
