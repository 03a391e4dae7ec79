import { Controller, Get, Header, Res, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  type SchemaObject,
} from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { Response } from 'express';
import { Public } from '../auth/auth.guard';
import { RedisService } from '../state/redis.service';
import { MetricsService } from './metrics.service';

/** Per-dependency detail of `/health/ready` (terminus): `{ status: 'up' | 'down' | 'degraded', … }` by name. */
const DEPENDENCIES: SchemaObject = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down', 'degraded'] } },
  },
};

/** The body of `/health/ready`, both answers. */
const READINESS: SchemaObject = {
  type: 'object',
  required: ['status', 'details'],
  properties: {
    status: {
      type: 'string',
      enum: ['ok', 'degraded', 'error'],
      description:
        '`degraded` (200): Redis unreachable, serving from in-process state; `error` (503): a dependency is down',
    },
    info: DEPENDENCIES,
    error: DEPENDENCIES,
    details: { ...DEPENDENCIES, description: 'every dependency: `database`, `redis`' },
  },
};

@ApiTags('operations')
@Public()
@Controller()
export class ObservabilityController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @ApiOkResponse({
    description: '`{ "status": "ok" }`',
    schema: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
  })
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis reachable, with per-dependency detail' })
  @ApiOkResponse({
    description: 'Ready: `{ status: "ok", info: { database, redis }, error: {}, details }`',
    schema: READINESS,
  })
  @ApiServiceUnavailableResponse({
    description: 'Not ready: the same shape with `status: "error"`',
    schema: READINESS,
  })
  async ready(@Res({ passthrough: true }) res: Response) {
    try {
      return await this.health.check([
        () => this.typeorm.pingCheck('database', { timeout: 1500 }),
        () => this.redisCheck(),
      ]);
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      res.status(503);
      return err.getResponse();
    }
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics' })
  @ApiOkResponse({
    description: 'Prometheus text exposition format (version 0.0.4)',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  private async redisCheck() {
    const check = this.indicators.check('redis');
    if (!this.redis.client) return check.up({ mode: 'in-process' });
    try {
      await this.redis.ping(1500);
      return check.up({ mode: 'redis' });
    } catch (err) {
      // Degraded, not down: the instance keeps serving on its own view (state in process) until Redis returns.
      return check.degraded({
        mode: 'in-process fallback',
        message: err instanceof Error ? err.message : 'unreachable',
      });
    }
  }
}
