/** Unit tests need nothing built: only their own temporary directory, removed at the end. */
import { tmpRun } from "../support/tmp-run.js";

export default function setup(): () => void {
  return tmpRun("kiln-t-");
}
