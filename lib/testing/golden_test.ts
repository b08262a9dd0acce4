import assert from "node:assert/strict";
import { diffExpositions, families, parseSample } from "./golden.ts";

Deno.test("parseSample sorts labels, reads escapes and writes a number one way", () => {
  assert.deepEqual(parseSample(`x{b="2",a="q\\"\\n\\\\"} 3.0`), {
    name: "x",
    labels: [["a", 'q"\n\\'], ["b", "2"]],
    value: "3",
  });
  assert.deepEqual(parseSample("x +Inf"), { name: "x", labels: [], value: "+Inf" });
  assert.deepEqual(parseSample("x NaN 1700000000"), { name: "x", labels: [], value: "NaN" });
  assert.equal(parseSample(`x{a=1} 3`), undefined);
  assert.equal(parseSample(`x{a="1"`), undefined);
  assert.equal(parseSample("x"), undefined);
});

Deno.test("families groups a histogram's series under its name and sorts each family", () => {
  const text =
    `# TYPE h histogram\nh_sum 2\nh_bucket{le="+Inf"} 1\nh_count 1\n# HELP h A histogram.\nlone 1\n`;
  assert.deepEqual([...families(text)], [
    ["h", {
      headers: ["# HELP h A histogram.", "# TYPE h histogram"],
      samples: ['h_bucket{le="+Inf"} 1', "h_count 1", "h_sum 2"],
    }],
    ["lone", { headers: [], samples: ["lone 1"] }],
  ]);
});

Deno.test("diffExpositions ignores order and number spelling, and names each family that differs", () => {
  const golden = `# TYPE a gauge\na{x="1",y="2"} 1.0\n# TYPE b gauge\nb 1\n`;
  assert.deepEqual(diffExpositions(golden, `# TYPE b gauge\nb 1e0\n# TYPE a gauge\na{y="2",x="1"} 1\n`), []);
  assert.deepEqual(
    diffExpositions(golden, `# TYPE a gauge\na{x="1",y="2"} 2\n# TYPE c counter\nc_total 1\n`),
    [
      "family a:",
      `- a{x="1",y="2"} 1`,
      `+ a{x="1",y="2"} 2`,
      "family b: in the golden file, not served",
      "- # TYPE b gauge",
      "- b 1",
      "family c: served, not in the golden file",
      "+ # TYPE c counter",
      "+ c_total 1",
    ],
  );
});
