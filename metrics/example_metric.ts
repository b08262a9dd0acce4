// The seed's example: one gauge, set on every run.
import { Gauge } from "prom-client";
import type { ProcessContext } from "dynamic_exporter"; // the module types; erased before it runs

const example = new Gauge({ name: "example_metric", help: "An example metric" });

export function process(_ctx: ProcessContext): void {
  example.set(42);
}
