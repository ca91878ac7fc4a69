/**
 * The application side of webhook events: verify, de-duplicate and hand them to your code.
 * See docs/events.md.
 */
export { createEventReceiver, RECEIVER_BODY_BYTES_MAX_DEFAULT, type EventReceiverOptions, type EventRequestHandler } from './receiver.js';
export { listenForEvents, type EventReceiverServer, type ListenForEventsOptions } from './listen.js';
export { DEDUPE_CAPACITY_DEFAULT, MemoryDedupeStore, type DedupeStore } from './dedupe.js';
export { parseEvent, type ParsedEvent } from './parse-event.js';
export { signPayload, verifySignature, SIGNATURE_HEADER, type SignatureCheck, type SignatureFailure } from '../handlers/signature.js';
