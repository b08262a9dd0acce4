/**
 * A module's own page (issue 19), end to end: the real exporter serves what it holds for each
 * module, escaped, bounded, linked from the status page, 404 for a name it does not know, and
 * under the web config's basic auth.
 */

import assert from "node:assert/strict";
import { waitFor, waitForSample, withExporter } from "./_server.ts";
import { AS_PROMETHEUS, PROMETHEUS, withSecuredExporter } from "./_web.ts";

// A label value that would be a script if the page did not escape it.
const HOSTILE = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "shop_orders", help: "Orders <b>waiting</b>.", labelNames: ["queue"] });
export function process() {
  g.set({ queue: "<script>alert(1)</script>" }, 3);
  g.set({ queue: "b" }, 4.5);
}
`;

/** A module serving `n` series of one gauge. */
function manySeries(n: number): string {
  return `import { Gauge } from "prom-client";
const g = new Gauge({ name: "many_value", help: "One per i.", labelNames: ["i"] });
export function process() {
  for (let i = 0; i < ${n}; i++) g.set({ i: String(i) }, i);
}
`;
}

/** The page of module `name`: status and body. */
async function modulePage(url: string, name: string, headers: HeadersInit = {}) {
  const response = await fetch(`${url}/module?name=${encodeURIComponent(name)}`, { headers });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
}

Deno.test("GET /module?name= shows the module's served series with their values, label values escaped", () =>
  withExporter({ "shop.ts": HOSTILE }, async (e) => {
    await waitForSample(e.url, 'shop_orders{queue="b"}', 4.5);
    const page = await modulePage(e.url, "shop");
    assert.equal(page.status, 200);
    assert.equal(page.type, "text/html; charset=utf-8");
    assert.equal(/<script|<b>/i.test(page.body), false, page.body);
    assert.ok(
      page.body.includes(
        '<ol class="series"><li><code>shop_orders{queue=&#34;&#60;script&#62;alert(1)&#60;/script&#62;&#34;}</code>' +
          '<span class="v">3</span></li><li><code>shop_orders{queue=&#34;b&#34;}</code><span class="v">4.5</span></li></ol>',
      ),
      page.body,
    );
    assert.ok(page.body.includes('<p class="help">Orders &#60;b&#62;waiting&#60;/b&#62;.</p>'), page.body);
    assert.match(page.body, /<h1>shop<span class="badge up">up<\/span>/);
    // Linked from the status page's row of the module.
    const landing = await (await fetch(`${e.url}/`)).text();
    assert.match(landing, /<tr class="up"><td><a href="module\?name=shop">shop<\/a><\/td>/);
  }));

Deno.test("GET /module?name= answers 404 with a clear message for a module the exporter does not have", () =>
  withExporter({ "shop.ts": HOSTILE }, async (e) => {
    await waitForSample(e.url, 'shop_orders{queue="b"}', 4.5);
    assert.deepEqual(await modulePage(e.url, "nosuch"), {
      status: 404,
      type: "text/plain; charset=utf-8",
      body: 'No module "nosuch" here; the status page at / lists every module.\n',
    });
  }));

Deno.test("GET /module?name= shows at most 200 of a module's 250 series and says 50 more", () =>
  withExporter({ "many.ts": manySeries(250) }, async (e) => {
    await waitForSample(e.url, 'many_value{i="249"}', 249);
    const page = await modulePage(e.url, "many");
    assert.equal(page.status, 200);
    assert.equal(page.body.match(/<li><code>many_value\{/g)?.length, 200);
    assert.ok(page.body.includes('<p class="when">250 series.'), page.body);
    assert.ok(page.body.includes('<p class="note">50 more series not shown (the first 200 are);'), page.body);
  }));

Deno.test("GET /module?name= is under the web config's basic auth, as every path but /-/healthy", () =>
  withSecuredExporter(`basic_auth_users:\n  ${PROMETHEUS}\n`, async ({ exporter }) => {
    assert.equal((await modulePage(exporter.url, "secured")).status, 401);
    let page = await modulePage(exporter.url, "secured", AS_PROMETHEUS);
    await waitFor(
      async () =>
        (page = await modulePage(exporter.url, "secured", AS_PROMETHEUS)).body.includes("secured_value"),
      {
        message: () => `${page.status}: ${page.body}`,
      },
    );
    assert.equal(page.status, 200);
    assert.ok(page.body.includes('<li><code>secured_value</code><span class="v">7</span></li>'), page.body);
  }));
