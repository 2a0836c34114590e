// Drives the Executor from TypeScript: runs a two-step plan whose second step uses the first
// one's output, prints every event of it as WatchExecution delivers them and then the
// result, and shows how a rejected request reads (google.rpc.BadRequest field violations).
//
//   node dist/example/main.js 127.0.0.1:50051
//
// Exits 0 only if the plan COMPLETED and the invalid plan was rejected as such. Set
// EXECUTOR_TOKEN for a server started with --auth-token-file; for one that serves TLS,
// EXECUTOR_TLS_CA (the CA's PEM file; EXECUTOR_TLS=1 trusts the system's CAs instead), and
// for mutual TLS EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY (the client's certificate and key).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import {
  type ActionStep,
  ActionPlanSchema,
  ActionStepSchema,
  createExecutorClient,
  errorInfo,
  type ExecutionEvent,
  ExecutionEventType,
  type ExecutorTlsOptions,
  ExecutionStatus,
  type ExecutorClient,
  fieldViolations,
  StepStatus,
} from "../src/index.js";

function toolStep(
  name: string,
  toolName: string,
  args: JsonObject,
  dependencies: string[] = [],
): ActionStep {
  return create(ActionStepSchema, {
    id: randomUUID(),
    name,
    dependencies,
    stepType: { case: "toolExecution", value: { toolName, arguments: args } },
  });
}

function printEvent(event: ExecutionEvent): void {
  let line = `event ${event.sequence} ${ExecutionEventType[event.type]} execution=${ExecutionStatus[event.status]}`;
  if (event.stepName) line += ` step=${event.stepName}:${StepStatus[event.stepStatus]}`;
  if (event.message) line += ` - ${event.message}`;
  console.log(line);
}

// A plan with three mistakes; prints the field violations of the status it is refused with.
async function submitInvalidPlan(client: ExecutorClient): Promise<void> {
  const plan = create(ActionPlanSchema, {
    id: randomUUID(),
    name: "broken",
    steps: [
      toolStep("fetch", "no.such.tool", {}),
      toolStep("bill", "echo", { total: "${steps.fetch.output.total}" }, ["ghost"]),
    ],
  });
  try {
    await client.executePlan({ plan });
  } catch (error) {
    const err = ConnectError.from(error);
    if (err.code !== Code.InvalidArgument) throw err;
    const violations = fieldViolations(err);
    console.log(
      `invalid plan rejected: INVALID_ARGUMENT ${errorInfo(err)?.reason ?? ""}, ${violations.length} field violations:`,
    );
    for (const v of violations) console.log(`  ${v.field}: ${v.description}`);
    if (violations.length === 0) throw new Error("the rejection carried no field violations");
    return;
  }
  throw new Error("the invalid plan was accepted");
}

// TLS as the EXECUTOR_TLS* variables ask (undefined: plaintext).
function tlsFromEnvironment(): ExecutorTlsOptions | undefined {
  const read = (name: string) => {
    const path = process.env[name];
    return path ? readFileSync(path) : undefined;
  };
  const tls = {
    ca: read("EXECUTOR_TLS_CA"),
    cert: read("EXECUTOR_TLS_CERT"),
    key: read("EXECUTOR_TLS_KEY"),
  };
  if (!tls.cert !== !tls.key) throw new Error("EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY go together");
  return tls.ca || tls.cert || tls.key || process.env.EXECUTOR_TLS ? tls : undefined;
}

async function main(address: string): Promise<boolean> {
  const client = createExecutorClient(address, {
    token: process.env.EXECUTOR_TOKEN,
    tls: tlsFromEnvironment(),
    defaultTimeoutMs: 60_000,
  });

  // "bill" depends on "fetch" and reads its output: once as a whole value (the order number
  // stays a number) and once inside a string.
  const plan = create(ActionPlanSchema, {
    id: randomUUID(),
    name: "checkout",
    steps: [
      toolStep("fetch", "echo", { order: 42, items: ["tea", "cake"] }),
      toolStep(
        "bill",
        "echo",
        {
          order: "${steps.fetch.output.order}",
          summary:
            "order ${steps.fetch.output.order}: ${steps.fetch.output.items.0} and ${steps.fetch.output.items.1}",
        },
        ["fetch"],
      ),
    ],
  });
  // detach: return once the execution is accepted, and follow it with WatchExecution.
  await client.executePlan({ plan, detach: true });
  console.log(`plan ${plan.id} submitted: fetch -> bill`);

  // From sequence 0: every event so far, then live ones; the stream ends after the last.
  for await (const batch of client.watchExecution({ planId: plan.id, afterSequence: 0n })) {
    batch.events.forEach(printEvent);
  }

  const result = await client.getExecutionStatus({ planId: plan.id });
  console.log(`result ${ExecutionStatus[result.status]}`);
  for (const step of result.stepResults) {
    const output = step.output ? JSON.stringify(toJson(ValueSchema, step.output)) : "null";
    console.log(`step ${step.stepName} ${StepStatus[step.status]} ${output}`);
  }

  await submitInvalidPlan(client);
  return result.status === ExecutionStatus.COMPLETED;
}

const [address, ...rest] = process.argv.slice(2);
if (!address || rest.length > 0) {
  console.error("usage: node dist/example/main.js HOST:PORT");
  process.exit(2);
}
main(address).then(
  (completed) => process.exit(completed ? 0 : 1),
  (error: unknown) => {
    console.error("error:", error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
