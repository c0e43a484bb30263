export { attention, attentionAsync, explain } from './attention';
export type { AsyncAttentionOptions } from './attention';
export { backend, setThreads } from './backend';
export type { AttentionOptions, AttentionPlan, AttentionResult, BackendInfo, BoolTensor, Layout, Tensor } from './types';
