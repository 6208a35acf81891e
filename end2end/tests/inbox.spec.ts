import AxeBuilder from "@axe-core/playwright";
import { Browser, expect, Page, test } from "@playwright/test";
import { decided, hydrated, signIn } from "./helpers";
import { Agent, createUser, importPolicy } from "./gate";

// People, an agent and a policy made for these tests; they share one server.
test.describe.configure({ mode: "serial" });

const POLICY = `
default_effect = "allow"

[[rules]]
name = "two-person-deploy"
[rules.match]
tool = "deploy"
[rules.effect]
kind = "gate"
approvals_required = 2
confirm = "deploy {/service}"

[[rules]]
name = "two-person-migrate"
[rules.match]
tool = "migrate"
[rules.effect]
kind = "gate"
approvals_required = 2

[[rules]]
name = "gate-changes"
[rules.match]
tool = "{restart,resize,notify,<*}"
[rules.effect]
kind = "gate"

[[rules]]
name = "short-fuse"
[rules.match]
tool = "short_fuse"
[rules.effect]
kind = "gate"
deadline_secs = 2
`;

const PASSWORD = "e2e password 1";
let agent: Agent;

test.beforeAll(async () => {
  createUser("ann", "approver");
  createUser("ben", "manager");
  createUser("val", "viewer");
  createUser("cat", "approver");
  await importPolicy(POLICY);
  agent = await Agent.create("e2e-bot");
});

async function openCard(page: Page, id: string) {
  await page.goto(`/calls/${id}`);
  await hydrated(page);
}

test("a gated call appears in the open inbox live, and its countdown ticks", async ({ page }) => {
  await signIn(page, "ann", PASSWORD);
  await page.goto("/inbox");
  await hydrated(page);
  const call = await agent.propose({
    tool: "restart",
    args: { host: "db-1" },
    reason: "memory leak",
    risk: ["production"],
  });
  const row = page.locator(`[data-call="${call.id}"]`);
  await expect(row).toBeVisible({ timeout: 2_000 });
  await expect(row).toContainText("Restart");
  await expect(row).toContainText("host=db-1");
  await expect(row.locator(".badge")).toHaveText(["Production"]);
  await expect(row).toContainText("0 of 1 approvals");

  const seconds = async () => {
    const text = (await row.locator(".countdown").textContent()) ?? "";
    const m = text.match(/(?:(\d+)h (\d+)m)|(?:(\d+):(\d+))/);
    if (!m) throw new Error(`countdown text ${text}`);
    return m[1] ? Number(m[1]) * 3600 + Number(m[2]) * 60 : Number(m[3]) * 60 + Number(m[4]);
  };
  const before = await seconds();
  await page.waitForTimeout(2_200);
  expect(await seconds()).toBeLessThan(before);

  // Decided elsewhere: it leaves without a reload.
  const other = await agent.propose({ tool: "resize", args: { disk: "20G" } });
  await expect(page.locator(`[data-call="${other.id}"]`)).toBeVisible({ timeout: 2_000 });
  const allowed = await agent.propose({ tool: "noop" });
  expect(allowed.status).toBe("allowed");
  await agent.cancel(other.id);
  await expect(page.locator(`[data-call="${other.id}"]`)).toHaveCount(0, { timeout: 2_000 });
  await expect(page.locator(`[data-call="${allowed.id}"]`)).toHaveCount(0);
});

test("approve with typed confirmation unblocks a long-polling agent", async ({ browser }) => {
  const call = await agent.propose({ tool: "deploy", args: { service: "api", env: "production" } });
  const waiting = agent.get(call.id, 30);
  const ann = await signedInPage(browser, "ann");
  const ben = await signedInPage(browser, "ben");

  // 2 of N: two different people, in two browsers.
  await openCard(ann, call.id);
  const approve = ann.getByRole("button", { name: "Approve" });
  await expect(approve).toBeDisabled();
  await ann.getByLabel(/Type deploy api to approve/).fill("deploy ap");
  await expect(approve).toBeDisabled();
  await ann.getByLabel(/Type deploy api to approve/).fill("deploy api");
  await expect(approve).toBeEnabled();
  await approve.click();
  await decided(ann, call.id, "your approval is recorded · 1 more needed");
  await openCard(ann, call.id);
  await expect(ann.locator(".summary")).toContainText("1 of 2 — ann");
  await expect(ann.locator(".approvals-line")).toHaveText("you approved · 1 more needed");
  await expect(ann.locator(".cannot-decide")).toContainText("already decided");

  await openCard(ben, call.id);
  await ben.getByLabel(/Type deploy api to approve/).fill("deploy api");
  await ben.getByRole("button", { name: "Approve" }).click();
  await decided(ben, call.id, "approved: it may run now");

  const done = await waiting;
  expect(done.status).toBe("approved");
  expect(done.approvals).toBe(2);
  const executed = await agent.execute(call.id);
  expect(executed.status).toBe(200);
});

test("deny with feedback reaches the agent verbatim", async ({ page }) => {
  const call = await agent.propose({ tool: "restart", args: { host: "web-3" } });
  const waiting = agent.get(call.id, 30);
  await signIn(page, "ann", PASSWORD);
  await openCard(page, call.id);
  const feedback = 'Not during peak hours — "drain" it first.\nThanks!';
  await page.getByLabel(/Why deny/).fill(feedback);
  await page.getByRole("button", { name: "Deny" }).click();
  await decided(page, call.id, "denied");
  const done = await waiting;
  expect(done.status).toBe("denied");
  expect(done.decisions[0].feedback).toBe(feedback);
  expect(done.message).toBe(feedback);
});

test("edited arguments are what the agent executes", async ({ page }) => {
  const call = await agent.propose({ tool: "resize", args: { disk: "500G", zone: "a" } });
  await signIn(page, "ann", PASSWORD);
  await openCard(page, call.id);
  await page.getByText("Edit arguments or add a note, then approve").click();
  await page.getByLabel("Arguments (JSON)").fill('{ "disk": "50G" ');
  await expect(page.getByText(/Not valid JSON/)).toBeVisible();
  await expect(page.getByRole("button", { name: "Approve" })).toBeDisabled();
  await page.getByLabel("Arguments (JSON)").fill('{ "disk": "50G", "zone": "a" }');
  await expect(page.locator(".diff")).toContainText('disk: "500G" → "50G"');
  await page.getByRole("button", { name: "Approve" }).click();
  await decided(page, call.id, "approved");
  const executed = await agent.execute(call.id);
  expect(executed.status).toBe(200);
  expect(executed.body.args).toEqual({ disk: "50G", zone: "a" });
});

test("an edit makes a new version: earlier approvals stop counting, a stale card is refused", async ({ browser }) => {
  const call = await agent.propose({ tool: "migrate", args: { db: "orders", steps: 3 } });
  const waiting = agent.get(call.id, 60);
  const ann = await signedInPage(browser, "ann");
  const ben = await signedInPage(browser, "ben");
  const cat = await signedInPage(browser, "cat");

  // Cat opens the card now and leaves it open across everything below.
  await openCard(cat, call.id);

  // Ann approves the proposal.
  await openCard(ann, call.id);
  await ann.getByRole("button", { name: "Approve" }).click();
  await decided(ann, call.id, "your approval is recorded");

  // Ben edits the arguments and approves: version 2, and only his approval counts for it.
  await openCard(ben, call.id);
  await ben.getByText("Edit arguments or add a note, then approve").click();
  await ben.getByLabel("Arguments (JSON)").fill('{ "db": "orders", "steps": 1 }');
  await expect(ben.locator(".diff")).toContainText("steps: 3 → 1");
  await ben.getByRole("button", { name: "Approve" }).click();
  await decided(ben, call.id, "your approval is recorded · 1 more needed");
  await openCard(ben, call.id);
  await expect(ben.locator(".summary")).toContainText("1 of 2 for version 2 — ben");
  await expect(ben.locator(".still-needed")).toContainText("1 more approval of version 2");
  expect((await agent.get(call.id)).status).toBe("pending");

  // Ann's card shows her approval was of an earlier version, and what changed.
  await openCard(ann, call.id);
  await expect(ann.locator(".decisions")).toContainText("ann approved an earlier version (version 1) — no longer counts");
  await expect(ann.locator(".decisions")).toContainText("ben edited the arguments (version 2) and approved them");
  await expect(ann.locator(".versions")).toContainText("Version 2 (current) by ben");
  await expect(ann.locator(".versions")).toContainText("steps: 3 → 1");

  // Cat's card still shows version 1: her click is refused with a clear message, and the
  // card then shows version 2.
  await cat.getByRole("button", { name: "Approve" }).click();
  await expect(cat.getByRole("alert")).toContainText("The arguments changed since you opened this call — review again");
  await expect(cat.locator(".versions")).toContainText("Version 2 (current) by ben");
  expect((await agent.get(call.id)).status).toBe("pending");

  // Having seen version 2, Cat approves it: two people approved the same final arguments.
  await cat.getByRole("button", { name: "Approve" }).click();
  await decided(cat, call.id, "approved: it may run now");
  const done = await waiting;
  expect(done.status).toBe("approved");
  expect(done.args).toEqual({ db: "orders", steps: 1 });
  const executed = await agent.execute(call.id);
  expect(executed.body.args).toEqual({ db: "orders", steps: 1 });
});

test("a viewer sees the card but cannot decide, even with a forged request", async ({ page }) => {
  const call = await agent.propose({ tool: "restart", args: { host: "db-2" } });
  await signIn(page, "val", PASSWORD);
  await openCard(page, call.id);
  await expect(page.locator(".card-head .kicker")).toContainText("Approval requested");
  await expect(page.getByRole("button", { name: "Approve" })).toHaveCount(0);
  await expect(page.locator(".cannot-decide")).toContainText("needs the approver role");
  const res = await page.request.post("/rpc/decide", {
    form: { id: call.id, decision: "approve", hash: "0".repeat(64) },
    headers: { Accept: "application/json" },
  });
  expect(res.status()).toBe(403);
  expect((await res.json()).error.code).toBe("forbidden");
  expect((await agent.get(call.id)).status).toBe("pending");
});

test("an expired call cannot be approved", async ({ page }) => {
  const call = await agent.propose({ tool: "short_fuse" });
  await signIn(page, "ann", PASSWORD);
  await openCard(page, call.id);
  await page.waitForTimeout(2_500);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("alert")).toContainText(/expired|deadline passed/);
  await page.reload();
  await expect(page.locator(".card-head .status")).toHaveText("expired");
  expect((await agent.get(call.id)).status).toBe("expired");
});

test("agent-supplied XSS payloads never run", async ({ page }) => {
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const payload = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`;
  const call = await agent.propose({
    tool: `<img src=x onerror=alert(1)>`,
    args: { url: "javascript:alert(3)", html: payload },
    reason: `${payload} [click](javascript:alert(4))`,
    alternatives: [payload],
    context: { summary: payload, plan_step: 1, plan_total: 2 },
  });
  await signIn(page, "ann", PASSWORD);
  await page.goto("/inbox");
  await hydrated(page);
  await expect(page.locator(`[data-call="${call.id}"]`)).toBeVisible();
  await openCard(page, call.id);
  await expect(page.locator(".summary")).toContainText("<script>window.__xss=1</script>");
  await expect(page.locator(".summary img")).toHaveCount(0);
  await expect(page.locator('a[href^="javascript:"]')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
  expect(dialogs).toEqual([]);
});

test("inbox and card: no serious accessibility violations; screenshots at two sizes", async ({ page }, info) => {
  const call = await agent.propose({
    tool: "deploy",
    args: { service: "web", env: "production", version: "2.4.1" },
    reason: "Roll out the fix for the checkout timeout (#311).",
    risk: ["production", "customer_facing"],
    alternatives: ["Wait for the nightly deploy", "Feature-flag the change"],
    context: { plan_step: 2, plan_total: 4, summary: "Hotfix the checkout timeout" },
  });
  await signIn(page, "ben", PASSWORD);
  for (const [name, size] of [
    ["desktop", { width: 1280, height: 800 }],
    ["phone", { width: 390, height: 844 }],
  ] as const) {
    await page.setViewportSize(size);
    for (const [where, url] of [
      ["inbox", "/inbox"],
      ["card", `/calls/${call.id}`],
    ]) {
      await page.goto(url);
      await hydrated(page);
      const results = await new AxeBuilder({ page }).analyze();
      const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`)).toEqual([]);
      const shot = await page.screenshot({ path: info.outputPath(`${where}-${name}.png`) });
      await info.attach(`${where}-${name}`, { body: shot, contentType: "image/png" });
      if (where === "card") {
        // Everything needed to decide is visible without scrolling: on a laptop the forms
        // too; on a phone the header and the reason above a compact approve/deny bar.
        const parts = name === "desktop"
          ? [".headline", ".summary", "button.approve", "button.deny"]
          : [".headline", ".head-facts", ".head-reason", ".quick-decide"];
        for (const sel of parts) {
          const box = await page.locator(sel).first().boundingBox();
          expect(box, sel).not.toBeNull();
          expect(box!.y + Math.min(box!.height, 40), sel).toBeLessThanOrEqual(size.height);
        }
      }
    }
  }
});

test("invisible characters in agent text are shown, not obeyed", async ({ page }) => {
  const call = await agent.propose({
    tool: "restart",
    args: { host: "web\u202E1gnp.exe" },
    reason: "zero\u200Bwidth and \u202Ereversed",
  });
  await signIn(page, "ann", PASSWORD);
  await openCard(page, call.id);
  const card = page.locator(".decision-card");
  await expect(card).toContainText("web⟨U+202E⟩1gnp.exe");
  await expect(card).toContainText("zero⟨U+200B⟩width and ⟨U+202E⟩reversed");
  const isolation = await card.locator(".agent-text").first().evaluate((el) => getComputedStyle(el).unicodeBidi);
  expect(isolation).toBe("isolate");
  await page.goto("/inbox");
  await expect(page.locator(`[data-call="${call.id}"]`)).toContainText("⟨U+202E⟩");
});

test("history lists decided calls with links to their cards", async ({ page }) => {
  await signIn(page, "val", PASSWORD);
  await page.goto("/history?status=denied");
  const row = page.getByRole("row").filter({ hasText: "Restart" }).first();
  await expect(row).toContainText("denied");
  await row.getByRole("link").click();
  await expect(page.locator(".decisions")).toContainText("ann denied");
});

async function signedInPage(browser: Browser, user: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, user, PASSWORD);
  return page;
}
