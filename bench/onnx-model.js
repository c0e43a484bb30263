'use strict';
// ONNX model bytes for the onnxruntime peers, generated here (nothing is downloaded).
// Uses the ONNX protobuf definitions that onnx-proto exports.

const { onnx } = require('onnx-proto');

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const OPSET = 17;
const IR_VERSION = 8;

function tensorInfo(name, dims) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } },
  });
}

const { AttributeType } = onnx.AttributeProto;
const intAttribute = (name, i) => ({ name, type: AttributeType.INT, i });
const intsAttribute = (name, ints) => ({ name, type: AttributeType.INTS, ints });
const floatAttribute = (name, f) => ({ name, type: AttributeType.FLOAT, f });

function node(opType, inputs, outputs, attributes = [], domain = '') {
  return onnx.NodeProto.create({
    opType,
    domain,
    input: inputs,
    output: outputs,
    name: `${opType}_${outputs[0]}`,
    attribute: attributes,
  });
}

function encodeModel({ graphName, nodes, inputs, outputs, initializers = [], microsoft = false }) {
  const opsetImport = [{ domain: '', version: OPSET }];
  if (microsoft) opsetImport.push({ domain: 'com.microsoft', version: 1 });
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'fused-attention-bench',
    opsetImport,
    graph: { name: graphName, node: nodes, input: inputs, output: outputs, initializer: initializers },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Unfused attention as a user would export it:
 * O = Softmax(MatMul(Q, Transpose(K)) · scale [+ mask]) · V.
 * Inputs q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv] and, if `withMask`, mask [Lq,Lk]
 * (broadcast over B and H). Output o [B,H,Lq,Dv].
 */
function unfusedAttentionModel({ B, H, Lq, Lk, D, Dv, scale, withMask }) {
  const scaleTensor = onnx.TensorProto.create({ name: 'scale', dataType: FLOAT, dims: [], floatData: [scale] });
  const nodes = [
    node('Transpose', ['k'], ['k_t'], [intsAttribute('perm', [0, 1, 3, 2])]),
    node('MatMul', ['q', 'k_t'], ['scores']),
    node('Mul', ['scores', 'scale'], ['scaled']),
  ];
  let logits = 'scaled';
  if (withMask) {
    nodes.push(node('Add', ['scaled', 'mask'], ['masked']));
    logits = 'masked';
  }
  nodes.push(node('Softmax', [logits], ['probs'], [intAttribute('axis', -1)]));
  nodes.push(node('MatMul', ['probs', 'v'], ['o']));
  const inputs = [tensorInfo('q', [B, H, Lq, D]), tensorInfo('k', [B, H, Lk, D]), tensorInfo('v', [B, H, Lk, Dv])];
  if (withMask) inputs.push(tensorInfo('mask', [Lq, Lk]));
  return encodeModel({
    graphName: 'unfused_attention',
    nodes,
    inputs,
    outputs: [tensorInfo('o', [B, H, Lq, Dv])],
    initializers: [scaleTensor],
  });
}

/**
 * onnxruntime's fused contrib op com.microsoft.MultiHeadAttention.
 * kvLayout 'bsd': query [B,Lq,H·D], key [B,Lk,H·D], value [B,Lk,H·Dv] (the layout that
 *   can take ORT's CPU flash-attention path).
 * kvLayout 'bnsh': query [B,Lq,H·D], key [B,H,Lk,D], value [B,H,Lk,Dv] (a KV cache as is).
 * With `withBias`, attention_bias [1,1,Lq,Lk] is added to the scaled scores; with
 * `unidirectional`, query i sees keys j <= i (causal for Lq == Lk).
 * Output o [B,Lq,H·Dv].
 */
function multiHeadAttentionModel({ B, H, Lq, Lk, D, Dv, scale, withBias, kvLayout, unidirectional = false }) {
  const inputs = [tensorInfo('q', [B, Lq, H * D])];
  if (kvLayout === 'bnsh') {
    inputs.push(tensorInfo('k', [B, H, Lk, D]), tensorInfo('v', [B, H, Lk, Dv]));
  } else {
    inputs.push(tensorInfo('k', [B, Lk, H * D]), tensorInfo('v', [B, Lk, H * Dv]));
  }
  // Inputs by position: query, key, value, bias, key_padding_mask, attention_bias.
  const mhaInputs = ['q', 'k', 'v'];
  if (withBias) {
    inputs.push(tensorInfo('attention_bias', [1, 1, Lq, Lk]));
    mhaInputs.push('', '', 'attention_bias');
  }
  const attributes = [intAttribute('num_heads', H), floatAttribute('scale', scale)];
  if (unidirectional) attributes.push(intAttribute('unidirectional', 1));
  return encodeModel({
    graphName: 'multi_head_attention',
    nodes: [node('MultiHeadAttention', mhaInputs, ['o'], attributes, 'com.microsoft')],
    inputs,
    outputs: [tensorInfo('o', [B, Lq, H * Dv])],
    microsoft: true,
  });
}

/** C [n,n] = A [n,n] · B [n,n], for the GEMM ceiling when numpy is missing. */
function matMulModel(n) {
  return encodeModel({
    graphName: 'matmul',
    nodes: [node('MatMul', ['a', 'b'], ['c'])],
    inputs: [tensorInfo('a', [n, n]), tensorInfo('b', [n, n])],
    outputs: [tensorInfo('c', [n, n])],
  });
}

/**
 * nn.Linear as an exporter writes it: y = MatMul(x, Wᵀ) + b with the weights as
 * initializers (constant, so onnxruntime pre-packs them once, as packLinear does).
 * x [M, K]; weightT [K, N] row-major (the transpose of nn.Linear's weight); bias [N] or null.
 */
function linearModel({ M, K, N, weightT, bias }) {
  const raw = (name, dims, data) =>
    onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  const initializers = [raw('w', [K, N], weightT)];
  const nodes = [node('MatMul', ['x', 'w'], [bias ? 'xw' : 'y'])];
  if (bias) {
    initializers.push(raw('b', [N], bias));
    nodes.push(node('Add', ['xw', 'b'], ['y']));
  }
  return encodeModel({
    graphName: 'linear',
    nodes,
    inputs: [tensorInfo('x', [M, K])],
    outputs: [tensorInfo('y', [M, N])],
    initializers,
  });
}

module.exports = { unfusedAttentionModel, multiHeadAttentionModel, matMulModel, linearModel };
