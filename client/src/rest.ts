import createClient, { type Client } from 'openapi-fetch';
import { ChatError, type paths } from './protocol';

/** The typed REST client (openapi-fetch over the service's OpenAPI document). */
export type RestClient = Client<paths>;

export interface RestOptions {
  baseUrl: string;
  /** The current bearer token, read on every request. */
  token: () => string;
  fetch?: (input: Request) => Promise<Response>;
}

export function createRestClient(opts: RestOptions): RestClient {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  client.use({
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${opts.token()}`);
      return request;
    },
  });
  return client;
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful call, or a `ChatError` with the contract's code (and the request id). */
export function unwrap<T>(result: Result<T>): T {
  const { response } = result;
  if (response.ok) return result.data as T;
  const body = (result.error ?? {}) as { code?: string; message?: string; requestId?: string };
  const retryAfter = Number(response.headers.get('retry-after'));
  throw new ChatError(
    body.code ?? (response.status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL'),
    body.message ?? `HTTP ${response.status}`,
    response.status,
    body.requestId ?? response.headers.get('x-request-id') ?? undefined,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}
