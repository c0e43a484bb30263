export { attention, attentionAsync, explain } from './attention';
export type { AsyncAttentionOptions, CachedAttentionOptions } from './attention';
export { KvCache } from './kv-cache';
export type { KvAppendOptions, KvCacheConfig, KvCacheDtype } from './kv-cache';
export { KvCachePool } from './kv-cache-pool';
export type { KvCachePoolConfig } from './kv-cache-pool';
export { MultiHeadAttention } from './mha';
export type { MhaForwardAsyncOptions, MhaForwardOptions, MhaStepOptions, MultiHeadAttentionConfig, MultiHeadAttentionWeights } from './mha';
export { backend, init, setThreads } from './backend';
export { linear, packLinear, PackedLinear } from './linear';
export type { LinearForwardAsyncOptions, LinearForwardOptions, LinearOptions, LinearWeightsDtype, PackLinearOptions } from './linear';
export type { AttentionOptions, AttentionPlan, AttentionResult, BackendInfo, BoolTensor, InitOptions, Layout, Tensor, WeightTensor } from './types';
export { axialAttention, AxialAttention, AxialPositionalEmbedding } from './vision/axial';
export type {
  AxialAttentionConfig,
  AxialAttentionOptions,
  AxialAttentionWeightName,
  AxialAttentionWeights,
  AxialForwardAsyncOptions,
  AxialPositionalEmbeddingConfig,
  AxialPositionalEmbeddingWeights,
  Axis,
} from './vision/axial';
export { crissCrossAttention, CrissCrossAttention } from './vision/criss-cross';
export type { CrissCrossConfig, CrissCrossOptions, CrissCrossWeights, ImageLayout } from './vision/criss-cross';
export { CoordinateAttention } from './vision/coordinate';
export type { BatchNorm2dWeights, CoordinateAttentionConfig, CoordinateAttentionWeights } from './vision/coordinate';
export type { Conv1x1Weights } from './vision/conv1x1';
