/** The receiver: the cloud side of the camera fleet (see receiver.ts). */
export { createReceiver, defaultReceiverId, HOST_LABEL } from './receiver.js';
export type { Receiver, ReceiverOptions, ReceiveResult, ReceiverStats, RetryOptions } from './receiver.js';
export type { SubscribeOptions } from '../notify/index.js';
export type { QuarantineReport } from './quarantine.js';
