export { attention, attentionAsync } from './attention';
export { backend, setThreads } from './backend';
export type { AttentionOptions, BackendInfo, Tensor } from './types';
