/** The unit and tools tiers need nothing built: only their own temporary directory, removed at the end. */
import { tmpRun } from "./tmp-run.js";

export default function setup(): () => void {
  return tmpRun("kiln-t-");
}
