// The seed's example: one gauge, set on every run.
import { Gauge } from "prom-client";

const example = new Gauge({ name: "example_metric", help: "An example metric" });

export function process() {
  example.set(42);
}
