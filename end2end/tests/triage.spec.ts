import { expect, Page, test } from "@playwright/test";
import { decided, hydrated, signIn } from "./helpers";
import { Agent, createUser, importPolicy } from "./gate";

// The decision card's header, arguments in the order that decides, the triage loop and
// the home page, on a policy made for them. Deadlines here are short, so these calls are
// the soonest waiting on anyone and the loop goes through them in order.
test.describe.configure({ mode: "serial" });

const POLICY = `
default_effect = "allow"

[[rules]]
name = "tag-prod"
add_risk = ["production"]
[[rules.match.args]]
pointer = "/workspace"
op = "glob"
value = "prod*"

[[rules]]
name = "mail-outside"
[rules.match]
tool = "send_email"
[[rules.match.args]]
pointer = "/to"
op = "glob"
value = "*@*"
[rules.effect]
kind = "gate"
approvals_required = 2
deadline_secs = 300
on_deadline = "escalate"
escalate_to = "manager"

[[rules]]
name = "triage-steps"
[rules.match]
tool = "triage_step"
[rules.effect]
kind = "gate"
deadline_secs = 120
`;

const PASSWORD = "e2e password 1";
let agent: Agent;

test.beforeAll(async () => {
  createUser("tia", "approver");
  createUser("tom", "approver");
  await importPolicy(POLICY);
  agent = await Agent.create("triage-bot");
});

async function open(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}

const EMAIL = {
  tool: "send_email",
  args: { body: "Numbers attached.", cc: "cfo@corp.example", subject: "Q3", to: "ceo@corp.example", workspace: "prod-eu" },
  reason: "The board asked for the Q3 numbers today.",
};

test("the card header says what, how risky, how long and what then, who approved and why", async ({ page }) => {
  const call = await agent.propose(EMAIL);
  await signIn(page, "tia", PASSWORD);
  await open(page, `/calls/${call.id}`);
  const head = page.locator(".card-head");
  // The action as a sentence with the arguments the deciding and risk rules read.
  await expect(head.locator(".headline")).toHaveText("Send email to ceo@corp.example workspace prod-eu");
  await expect(head.locator(".badge")).toHaveText(["Production"]);
  await expect(head.locator(".deadline")).toContainText(/left · then it escalates to managers/);
  await expect(head.locator(".approvals-line")).toHaveText("2 approvals needed");
  await expect(head.locator(".head-reason")).toContainText("The board asked for the Q3 numbers today.");
  // Arguments in the order that decides: the rule's /to, the risk rule's /workspace, then the rest.
  const args = page.locator(".arg-list > li");
  await expect(args.locator("> .arg-key")).toHaveText(["to", "workspace", "body", "cc", "subject"]);
  await expect(args.nth(0)).toHaveClass(/deciding/);
  await expect(args.nth(1)).toHaveClass(/deciding/);
  await expect(args.nth(2)).not.toHaveClass(/deciding/);

  await page.getByRole("button", { name: "Approve", exact: true }).click();
  await decided(page, call.id, "your approval is recorded · 1 more needed");
  await open(page, `/calls/${call.id}`);
  await expect(head.locator(".approvals-line")).toHaveText("you approved · 1 more needed");

  // In the inbox it now waits on others, saying why; its row leads with what decides and
  // gives the reason.
  await open(page, "/inbox");
  const row = page.locator(`.call-list.others [data-call="${call.id}"]`);
  await expect(row.locator(".waiting-on")).toHaveText("you approved it · 1 more needed");
  await expect(row.locator(".arg-key")).toHaveText(["to", "workspace", "body"]);
  await expect(row.locator(".row-reason")).toHaveText(EMAIL.reason);
  await expect(row.locator(".pick")).toHaveCount(0);
  await agent.cancel(call.id);
});

test("on a phone the header and reason are on screen above a compact approve/deny bar", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const call = await agent.propose(EMAIL);
  await signIn(page, "tom", PASSWORD);
  await open(page, `/calls/${call.id}`);
  for (const part of [".headline", ".head-facts", ".head-reason", ".quick-decide"]) {
    await expect(page.locator(part)).toBeInViewport({ ratio: 1 });
  }
  // The bar jumps to the full form.
  await page.locator(".quick-decide").getByRole("link", { name: "Deny…" }).click();
  await expect(page.getByLabel(/Why deny/)).toBeInViewport();
  await agent.cancel(call.id);
});

test("after a decision the next call waiting on me opens, saying what was done", async ({ page }) => {
  const first = await agent.propose({ tool: "triage_step", args: { step: 1 } });
  const second = await agent.propose({ tool: "triage_step", args: { step: 2 } });
  await signIn(page, "tom", PASSWORD);
  await open(page, `/calls/${first.id}`);
  await page.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/calls/${second.id}\\?after=${first.id}$`));
  await decided(page, first.id, "approved: it may run now");
  await expect(page.locator(".decided-note")).toContainText("This is the next call waiting on you.");
  // `u` goes back to the inbox.
  await hydrated(page);
  await page.keyboard.press("u");
  await expect(page).toHaveURL(/\/inbox$/);
  await agent.cancel(second.id);
});

test("A approves the ticked calls, and the result is shown where I am looking", async ({ page }) => {
  const calls = [];
  for (let i = 0; i < 14; i++) calls.push(await agent.propose({ tool: "triage_step", args: { step: 100 + i } }));
  await signIn(page, "tom", PASSWORD);
  await page.setViewportSize({ width: 1280, height: 600 });
  await open(page, "/inbox");
  const last = page.locator(`[data-call="${calls[13].id}"]`);
  await last.scrollIntoViewIfNeeded();
  await last.locator(".pick").check();
  await page.locator(`[data-call="${calls[12].id}"] .pick`).check();
  await expect(page.locator(".batch-count")).toHaveText("2 selected");
  await page.locator("body").press("Shift+A");
  const result = page.locator(".batch-result");
  await expect(result).toContainText("approved");
  await expect(result).toBeInViewport();
  for (const c of calls.slice(12)) expect((await agent.get(c.id)).status).toBe("approved");
  for (const c of calls.slice(0, 12)) await agent.cancel(c.id);
});

test("home says what needs me now", async ({ page }) => {
  const call = await agent.propose({ tool: "triage_step", args: { step: 200 } });
  await signIn(page, "tom", PASSWORD);
  await open(page, "/");
  const needs = page.locator(".needs");
  await expect(needs.getByRole("heading", { name: "What needs you now" })).toBeVisible();
  await expect(needs).toContainText(/\d+ calls? waits? on you/);
  await expect(needs.getByRole("link", { name: /Triage step from triage-bot/ })).toHaveAttribute("href", `/calls/${call.id}`);
  // No sign-offs for an approver, and no setup steps.
  await expect(needs).not.toContainText("Sign-offs");
  await expect(page.locator(".setup")).toHaveCount(0);
  await agent.cancel(call.id);
});
