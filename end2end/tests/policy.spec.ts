import { expect, test } from "@playwright/test";
import { ADMIN, askfirst, hydrated, signIn } from "./helpers";
import { Agent, approveChange, createAgent, ensureSigners } from "./gate";

// The admin's policy console, against the policy the inbox tests left in force.
test.describe.configure({ mode: "serial" });

test("an admin gates a tool in the browser, tries it, replays, saves, and restores", async ({ page }) => {
  ensureSigners();
  const agent = await Agent.create("policy-bot");
  for (const table of ["orders", "users"]) {
    expect((await agent.propose({ tool: "vacuum", args: { table } })).status).toBe("allowed");
  }
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.goto("/policy");
  await hydrated(page);

  // A field error keeps what was typed.
  await page.getByRole("link", { name: "New rule" }).click();
  await hydrated(page);
  const form = page.getByRole("form", { name: "New rule" });
  // Only the chosen effect's fields.
  await expect(form.getByLabel("Approvals needed")).toBeVisible();
  await expect(form.getByLabel("Deny message (to the agent)")).toBeHidden();
  await form.getByLabel("Effect").selectOption("deny");
  await expect(form.getByLabel("Deny message (to the agent)")).toBeVisible();
  await expect(form.getByLabel("Approvals needed")).toBeHidden();
  await form.getByLabel("Effect").selectOption("allow");
  await expect(form.getByLabel("Deny message (to the agent)")).toBeHidden();
  await form.getByLabel("Effect").selectOption("gate");
  await form.getByLabel("Name", { exact: true }).fill("gate-vacuum");
  await form.getByLabel("Tool (glob; empty: any)").fill("vac{uum");
  await form.getByRole("button", { name: "Save to draft" }).click();
  await expect(form.locator(".field-error")).toContainText("{");
  await expect(form.getByLabel("Name", { exact: true })).toHaveValue("gate-vacuum");
  await form.getByLabel("Tool (glob; empty: any)").fill("vacuum");
  await form.getByRole("button", { name: "Save to draft" }).click();
  await expect(page.locator('tr[data-rule="gate-vacuum"]')).toContainText("gate vacuum — 1 approver");
  await expect(page.locator('tr[data-rule="gate-vacuum"] .sentence code')).toHaveText("vacuum");
  await expect(page.locator(".draft .verdict")).toHaveText("This change does not loosen any gate.");

  // Dry run against the draft.
  const tryCall = page.locator(".try-call");
  await tryCall.getByLabel("Tool", { exact: true }).fill("vacuum");
  await tryCall.getByLabel("Arguments (JSON)").fill('{"table":"orders"}');
  await tryCall.getByRole("button", { name: "Try it" }).click();
  await expect(tryCall.locator(".dry-run .outcome")).toContainText("gate: 1 approver");
  await expect(tryCall.locator(".dry-run .outcome")).toContainText("by rule gate-vacuum");
  await expect(tryCall.locator(".dry-run")).toContainText("Under the policy in force: allow");

  // Replay lists the recent vacuum calls as becoming stricter.
  await page.locator(".replay").getByRole("button", { name: "Replay" }).click();
  const replay = page.locator(".replay-result");
  await expect(replay).toContainText("would become stricter");
  await expect(replay.getByRole("row").filter({ hasText: "vacuum" })).toContainText("policy-bot");

  // Save with a comment: the agent's next call is gated.
  await page.getByLabel("Why this change").fill("gate vacuums: they lock tables");
  await page.getByRole("button", { name: "Save as new version" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved as version" })).toBeVisible();
  const saved = Number((await page.getByRole("status").filter({ hasText: "Saved as version" }).textContent())!.match(/version (\d+)/)![1]);
  expect((await agent.propose({ tool: "vacuum", args: { table: "x" } })).status).toBe("pending");

  // Restore the version before: a loosening change, confirmed and saved; vacuums are allowed again.
  await page.reload();
  await hydrated(page);
  await page.getByRole("button", { name: `Restore version ${saved - 1} into draft` }).click();
  await expect(page.locator(".draft .verdict")).toHaveText("This change loosens a gate.");
  await expect(page.locator(".draft .findings")).toContainText("removed rule gate-vacuum");
  await page.getByLabel("Why this change").fill("back to the previous policy");
  // The box must be ticked before the form goes (the server refuses it unticked, too).
  await expect(page.getByLabel("I understand this loosens a gate")).toHaveAttribute("required", "");
  await page.getByLabel("I understand this loosens a gate").check();
  await page.getByRole("button", { name: "Send for sign-off" }).click();
  const waiting = page.getByRole("status").filter({ hasText: "waits as change #" });
  await expect(waiting).toContainText("for sign-off by 2 managers");
  const change = Number((await waiting.textContent())!.match(/change #(\d+)/)![1]);
  // It loosens: nothing changes until two managers (never its author) approve it.
  expect((await agent.propose({ tool: "vacuum", args: { table: "y" } })).status).toBe("pending");
  approveChange(change);
  await expect
    .poll(async () => (await agent.propose({ tool: "vacuum", args: { table: "y" } })).status, { timeout: 5_000 })
    .toBe("allowed");
});

test("the TOML tab names the line and column of an error", async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.goto("/policy");
  await hydrated(page);
  const tab = page.locator(".toml-tab");
  await expect(tab.getByLabel("Policy file")).toHaveValue(/default_effect/);
  // Upload a broken file: it lands in the editor, and applying it names the line.
  const broken = 'default_effect = "allow"\n\n[[rules]]\nname = "x"\nenabled = maybe\n';
  await tab.getByLabel("Or load a file").setInputFiles({ name: "policy.toml", mimeType: "text/plain", buffer: Buffer.from(broken) });
  await expect(tab.getByLabel("Policy file")).toHaveValue(broken);
  await tab.getByRole("button", { name: "Apply to draft" }).click();
  await expect(tab.getByRole("alert")).toContainText(/^line 5, column \d+/);
  // The line numbers beside the box mark the line the error names.
  await expect(tab.locator(".gutter .error-line")).toHaveText("5");
  await expect(tab.locator(".gutter span")).toHaveCount(6);
});

test("a new rule goes where it takes effect, and Try opens the dry run with a call it matches", async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const newRule = async (name: string, effect: string, tool: string, place?: string) => {
    await page.goto("/policy?new=1#rule-form");
    await hydrated(page);
    const form = page.getByRole("form", { name: "New rule" });
    await form.getByLabel("Name", { exact: true }).fill(name);
    await form.getByLabel("Effect").selectOption(effect);
    if (effect === "deny") await form.getByLabel("Deny message (to the agent)").fill("not exports");
    await form.getByLabel("Tool (glob; empty: any)").fill(tool);
    if (place) await form.getByLabel("Where it goes").selectOption(place);
    await form.getByRole("button", { name: "Save to draft" }).click();
    await expect(page.locator(`tr[data-rule="${name}"]`)).toBeVisible();
  };
  const order = async () => page.locator("table.rules tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-rule")));

  await newRule("broad-exports", "deny", "export_*");
  // Behind `broad-exports` it could never match: it goes before it.
  await newRule("export-reports", "allow", "export_reports");
  let rules = await order();
  expect(rules.indexOf("export-reports")).toBe(rules.indexOf("broad-exports") - 1);
  // Asked for last, it goes last (and the draft says it can never match).
  await newRule("export-all", "allow", "export_all", "last");
  rules = await order();
  expect(rules[rules.length - 1]).toBe("export-all");
  await expect(page.locator(".draft .warnings")).toContainText("export-all");

  // Try: the dry run opens with a call the rule matches, and reaches it.
  await page.getByRole("link", { name: "Try export-reports" }).click();
  await hydrated(page);
  const tryCall = page.locator(".try-call");
  await expect(tryCall.getByLabel("Tool", { exact: true })).toHaveValue("export_reports");
  await tryCall.getByRole("button", { name: "Try it" }).click();
  await expect(tryCall.locator(".dry-run .outcome")).toContainText("by rule export-reports");
  await expect(tryCall.locator(".dry-run li.decided")).toContainText("export-reports");

  await page.getByRole("button", { name: "Discard draft" }).click();
  await expect(page.locator('tr[data-rule="broad-exports"]')).toHaveCount(0);
});

test("an admin creates an agent, copies its key, and rotates it: the old key answers 401", async ({ page, request }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.goto("/agents");
  await hydrated(page);
  await page.getByLabel("Name").fill("rotating-bot");
  await page.getByRole("button", { name: "Create agent" }).click();
  const key = await page.getByRole("textbox", { name: "API key", exact: true }).inputValue();
  expect(key).toMatch(/^af_/);
  await expect(page.getByRole("textbox", { name: "Webhook secret", exact: true })).toHaveValue(/^whsec_/);
  const propose = (k: string) =>
    request.post("/api/v1/calls", { data: { session: "s", tool: "read_x" }, headers: { Authorization: `Bearer ${k}` } });
  expect((await propose(key)).status()).toBe(201);

  // After a reload (the key is not shown again): its call and when it was last seen.
  await page.waitForTimeout(1_200);
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("textbox", { name: "API key", exact: true })).toHaveCount(0);
  const row = page.locator('tr[data-agent="rotating-bot"]');
  await expect(row).toContainText("1 allowed");
  await expect(row).not.toContainText("never");
  // Rotating is a second step: nothing happens on the first click.
  await row.getByText("Rotate key…").click();
  const rotate = row.getByRole("form", { name: "Rotate the key of rotating-bot" });
  await rotate.getByLabel("Old key:").selectOption("0");
  await rotate.getByRole("button", { name: "Rotate key" }).click();
  await expect(page.getByRole("status").filter({ hasText: "New api key for rotating-bot" })).toContainText("The previous one stopped working.");
  const fresh = await page.getByRole("textbox", { name: "API key", exact: true }).inputValue();
  expect(fresh).not.toBe(key);
  expect((await propose(key)).status()).toBe(401);
  expect((await propose(fresh)).status()).toBe(201);
});

test("an admin caps pending calls per agent; the agent over the cap hears 429 too_many_pending", async ({ page, request }) => {
  const key = createAgent("capped-bot");
  const propose = (n: number) =>
    request.post("/api/v1/calls", {
      data: { session: "cap", tool: "restart", args: { n } },
      headers: { Authorization: `Bearer ${key}` },
    });
  try {
    await signIn(page, ADMIN.username, ADMIN.password);
    await page.goto("/agents");
    await hydrated(page);
    const limits = page.getByRole("region", { name: "Limits" });
    await expect(limits).toContainText("at most 1000 pending calls");
    await limits.getByLabel("Most pending calls per agent (empty: no cap)").fill("2");
    await limits.getByRole("button", { name: "Save limits" }).click();
    await expect(limits).toContainText("at most 2 pending calls");
    for (const n of [1, 2]) {
      const res = await propose(n);
      expect(res.status()).toBe(201);
      expect((await res.json()).status).toBe("pending");
    }
    const over = await propose(3);
    expect(over.status()).toBe(429);
    expect((await over.json()).error.code).toBe("too_many_pending");

    // A number out of bounds is refused with the reason; the cap stays.
    await limits.getByLabel("Most pending calls per agent (empty: no cap)").fill("0");
    await limits.getByRole("button", { name: "Save limits" }).click();
    await expect(limits.getByRole("alert")).toContainText("must be 1-1000000");
    await page.reload();
    await expect(page.getByRole("region", { name: "Limits" })).toContainText("at most 2 pending calls");

    await page.getByRole("region", { name: "Limits" }).getByLabel("Most pending calls per agent (empty: no cap)").fill("1000");
    await page.getByRole("region", { name: "Limits" }).getByRole("button", { name: "Save limits" }).click();
    await expect(page.getByRole("region", { name: "Limits" })).toContainText("at most 1000 pending calls");
    expect((await propose(3)).status()).toBe(201);
  } finally {
    // Later tests propose many calls: never leave them a small cap.
    askfirst(["limits", "set", "--max-pending-per-agent", "1000"]);
  }
});

test("history pages older and back newer by position", async ({ page }) => {
  const agent = await Agent.create("pager-bot");
  for (let i = 0; i < 30; i++) {
    expect((await agent.propose({ tool: "read_pages", args: { i } })).status).toBe("allowed");
  }
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.goto("/history?agent=pager-bot");
  const rows = page.locator("tbody tr");
  await expect(rows).toHaveCount(25);
  await expect(page.getByRole("link", { name: "← Newer" })).toHaveCount(0);
  const newest = await rows.first().getByRole("link").getAttribute("href");
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(page).toHaveURL(/agent=pager-bot&before=/);
  await expect(rows).toHaveCount(5);
  await expect(page.getByRole("link", { name: "Older →" })).toHaveCount(0);
  await page.getByRole("link", { name: "← Newer" }).click();
  await expect(rows).toHaveCount(25);
  expect(await rows.first().getByRole("link").getAttribute("href")).toBe(newest);
});

test("an admin sets someone's password; they must choose their own at the next sign-in", async ({ browser, page }) => {
  const { createUser } = await import("./gate");
  createUser("fay", "approver");
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.goto("/people");
  await hydrated(page);
  const reset = page.getByRole("form", { name: "New password for fay" });
  await reset.getByLabel("New password").fill("set by the admin 1");
  await reset.getByRole("button", { name: "Set new password" }).click();
  await expect(page.locator('tr[data-user="fay"]')).toContainText("must change password");

  const fay = await (await browser.newContext()).newPage();
  await fay.goto("/login");
  await fay.getByLabel("Username").fill("fay");
  await fay.getByLabel("Password", { exact: true }).fill("set by the admin 1");
  await fay.getByRole("button", { name: "Sign in" }).click();
  await expect(fay).toHaveURL(/\/account$/);
  await expect(fay.getByRole("alert")).toContainText("Choose your own before you continue");
  await hydrated(fay);
  await fay.getByLabel("Current password", { exact: true }).fill("set by the admin 1");
  await fay.getByLabel("New password", { exact: true }).fill("fays own password");
  await fay.getByLabel("New password again", { exact: true }).fill("fays own password");
  await fay.getByRole("button", { name: "Change password" }).click();
  await expect(fay.getByRole("status")).toContainText("Your password is changed");
  await fay.goto("/inbox");
  await expect(fay.getByRole("heading", { name: /Inbox/ })).toBeVisible();
});
