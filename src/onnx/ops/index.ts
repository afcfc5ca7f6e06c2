/** Importing this module registers every op family with the op registry. */
import './elementwise.js';
import './shape.js';
import './reduce.js';
import './softmax.js';
import './matmul.js';
import './conv.js';
import './pool.js';
import './batchnorm.js';
import './dropout.js';
import './nchwc.js';

export { batchNorm } from './batchnorm.js';
export { dropout } from './dropout.js';
export { silu } from './elementwise.js';
