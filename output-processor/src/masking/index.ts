export { createMasker, type Masker, type MaskerOptions, type StreamMasker } from "./masker.js";
export { MASK, MIN_SECRET_LENGTH, isMaskable, maskPatterns } from "./patterns.js";
export { MIN_PARTIAL_LENGTH } from "./encoders.js";
