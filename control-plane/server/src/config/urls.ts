/**
 * Where the services are reachable. Shared by reference: the composition root fills in the
 * control-plane URL once the server listens (port 0 in tests), before any task is submitted.
 */
export interface ServiceUrls {
  /** The URL agents claim tasks from (`DROVER_URL`). */
  controlPlane: string;
  /** Base of browser links (`<public>/jobs/<id>`). */
  public: string;
  /** The output-processor ingest URL handed to agents (`DROVER_OUTPUT_URL`). */
  output: string;
}
