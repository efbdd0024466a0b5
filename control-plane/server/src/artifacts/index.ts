export {
  artifactOrigin,
  checkArtifactSignature,
  projectLabel,
  signedArtifactPath,
  type ArtifactRef,
} from "./urls.js";
export { ARTIFACT_CSP, createArtifactServer, type ArtifactServerDeps } from "./server.js";
