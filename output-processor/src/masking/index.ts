export { createMasker, type Masker, type StreamMasker } from "./masker.js";
export { MASK, MIN_SECRET_LENGTH, isMaskable, maskPatterns } from "./patterns.js";
