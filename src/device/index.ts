// The camera side: one device (createDevice), a fleet in one process (runFleet), and the images they send.
export { createDevice } from './device.js';
export { blobNameFor } from './blob.js';
export type { Device, DeviceOptions, DeviceStats, ImageResult, ImageSource } from './device.js';
export { runFleet, formatFleetReport } from './simulate.js';
export type { FleetOptions, FleetReport } from './simulate.js';
export { summarize, type LatencySummary } from '../stats.js';
export { sampleImages, syntheticFrame, samplesDir, isImageName, DEFAULT_FRAME_BYTES } from './frames.js';
export type { Frame } from './frames.js';
export { notifierFromConfig } from './connect.js';
export type { ConfiguredNotifier } from './connect.js';
export { watchImages, retire, SENT_DIR } from './watch.js';
export type { WatchOptions } from './watch.js';
