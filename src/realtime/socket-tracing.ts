/**
 * Spans for Socket.IO client events (issue #12, docs/TRACING.md).
 *
 * Each client event is a SERVER span named `socket <event>` (e.g. `socket message:send`), with the
 * outcome of its ack as `chat.ack.outcome` (`ok` or the error code). Its parent, when the client
 * passes one, is the trace context in an optional argument between the payload and the ack:
 *
 *   socket.emit('message:send', payload, { traceparent: '00-…-…-01' }, ack)
 *
 * The payload itself is untouched (its validation still rejects unknown fields), and a client that
 * does not know about the argument sends none. A `traceparent` in the handshake's `auth` (beside
 * the token) describes the connection: every event span of the connection links to it, so that a
 * client's session trace leads to its events without making one endless trace of a long-lived
 * connection.
 */
import { ROOT_CONTEXT, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { contextFromCarrier, contextWith, linkTo, SpanKind, startSpan } from '../observability/spans';
import { edgeSampling } from '../observability/tracing';
import type { AuthedSocket } from './socket-auth';

export const ACK_OUTCOME_ATTRIBUTE = 'chat.ack.outcome';

/** Ack codes that are the server's fault: their spans are marked failed. */
const SERVER_ERRORS = new Set(['INTERNAL', 'SERVICE_UNAVAILABLE']);

const handshakeContexts = new WeakMap<AuthedSocket, Context | null>();

function handshakeContext(socket: AuthedSocket): Context | undefined {
  let ctx = handshakeContexts.get(socket);
  if (ctx === undefined) {
    ctx = contextFromCarrier(socket.handshake.auth) ?? null;
    handshakeContexts.set(socket, ctx);
  }
  return ctx ?? undefined;
}

/**
 * Starts the span of one client event; `carrier` is the optional argument after the payload.
 * Returns undefined when tracing is off or the edge did not sample the event.
 */
export function startSocketEventSpan(
  socket: AuthedSocket,
  event: string,
  carrier: unknown,
): { span: Span; context: Context | undefined } | undefined {
  const edge = edgeSampling();
  if (!edge) return undefined;
  const parent = contextFromCarrier(carrier) ?? ROOT_CONTEXT;
  // Sampled at the edge (tracing.ts): an unsampled event starts no span and runs in the context it
  // came in (none of its queries, commands and inner spans makes one, spans.ts): the cheapest.
  const decision = edge.decide(parent);
  if (!decision.sampled) return undefined;
  const span = edge.start(decision, () =>
    startSpan(`socket ${event}`, {
      kind: SpanKind.SERVER,
      parent,
      root: true,
      attributes: { 'chat.socket.event': event, 'chat.socket.id': socket.id },
      links: [linkTo(handshakeContext(socket), { 'chat.link': 'socket.handshake' })],
    }),
  );
  if (!span) return undefined;
  return { span, context: span.isRecording() ? contextWith(span, parent) : undefined };
}

/** Ends an event's span with the ack's outcome: `ok` or the error code. */
export function endSocketEventSpan(span: Span | undefined, outcome: string, message?: string): void {
  if (!span) return;
  span.setAttribute(ACK_OUTCOME_ATTRIBUTE, outcome);
  if (SERVER_ERRORS.has(outcome)) span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}
