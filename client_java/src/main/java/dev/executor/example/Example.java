package dev.executor.example;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import dev.executor.client.BearerToken;
import dev.executor.client.StatusDetails;
import dev.executor.v1.ActionPlan;
import dev.executor.v1.ActionStep;
import dev.executor.v1.ExecutePlanRequest;
import dev.executor.v1.ExecutionEvent;
import dev.executor.v1.ExecutionStatus;
import dev.executor.v1.ExecutorServiceGrpc;
import dev.executor.v1.GetExecutionStatusRequest;
import dev.executor.v1.GetExecutionStatusResponse;
import dev.executor.v1.StepResult;
import dev.executor.v1.ToolExecution;
import dev.executor.v1.WatchExecutionRequest;
import dev.executor.v1.WatchExecutionResponse;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import java.io.File;
import java.io.IOException;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Drives the Executor from Java: runs a two-step plan whose second step uses the first one's
 * output, prints every event of it as WatchExecution delivers them and then the result, and
 * shows how a rejected request reads (google.rpc.BadRequest field violations).
 *
 * <p>Exits 0 only if the plan COMPLETED and the invalid plan was rejected as such. Set
 * EXECUTOR_TOKEN for a server started with --auth-token-file; for one that serves TLS,
 * EXECUTOR_TLS_CA (the CA's PEM file; EXECUTOR_TLS=1 trusts the system's CAs instead), and for
 * mutual TLS EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY (the client's certificate and its PKCS#8
 * key, "BEGIN PRIVATE KEY").
 */
public final class Example {
  private Example() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 1) {
      System.err.println("usage: Example HOST:PORT");
      System.exit(2);
    }
    ManagedChannel channel;
    try {
      channel = Grpc.newChannelBuilder(args[0], credentialsFromEnvironment()).build();
    } catch (IOException | IllegalArgumentException e) { // unreadable or unusable TLS files
      System.err.println("error: " + e.getMessage());
      System.exit(1);
      return;
    }
    int code;
    try {
      ExecutorServiceGrpc.ExecutorServiceBlockingStub client =
          ExecutorServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
      String token = System.getenv("EXECUTOR_TOKEN");
      if (token != null && !token.isEmpty()) {
        client = client.withCallCredentials(new BearerToken(token));
      }
      code = run(client) ? 0 : 1;
    } catch (StatusRuntimeException | InvalidProtocolBufferException | IllegalStateException e) {
      System.err.println("error: " + e.getMessage());
      code = 1;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    System.exit(code);
  }

  /** Plaintext, or TLS as the EXECUTOR_TLS* variables ask. */
  private static ChannelCredentials credentialsFromEnvironment() throws IOException {
    String ca = env("EXECUTOR_TLS_CA");
    String cert = env("EXECUTOR_TLS_CERT");
    String key = env("EXECUTOR_TLS_KEY");
    if (ca == null && cert == null && key == null && env("EXECUTOR_TLS") == null) {
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder(); // else system CAs
    if (ca != null) {
      tls.trustManager(new File(ca));
    }
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException("EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY go together");
    }
    if (cert != null) {
      tls.keyManager(new File(cert), new File(key));
    }
    return tls.build();
  }

  private static String env(String name) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? null : value;
  }

  private static boolean run(ExecutorServiceGrpc.ExecutorServiceBlockingStub client)
      throws InvalidProtocolBufferException {
    // "bill" depends on "fetch" and reads its output: once as a whole value (the order number
    // stays a number) and once inside a string.
    ActionPlan plan =
        ActionPlan.newBuilder()
            .setId(UUID.randomUUID().toString())
            .setName("checkout")
            .addSteps(toolStep("fetch", "echo", "{\"order\": 42, \"items\": [\"tea\", \"cake\"]}"))
            .addSteps(
                toolStep(
                    "bill",
                    "echo",
                    """
                    {"order": "${steps.fetch.output.order}",
                     "summary": "order ${steps.fetch.output.order}: \
                    ${steps.fetch.output.items.0} and ${steps.fetch.output.items.1}"}""",
                    "fetch"))
            .build();
    // detach: return once the execution is accepted, and follow it with WatchExecution.
    client.executePlan(ExecutePlanRequest.newBuilder().setPlan(plan).setDetach(true).build());
    System.out.printf("plan %s submitted: fetch -> bill%n", plan.getId());

    // From sequence 0: every event so far, then live ones; the stream ends after the last.
    Iterator<WatchExecutionResponse> batches =
        client.watchExecution(WatchExecutionRequest.newBuilder().setPlanId(plan.getId()).build());
    while (batches.hasNext()) {
      for (ExecutionEvent event : batches.next().getEventsList()) {
        printEvent(event);
      }
    }

    GetExecutionStatusResponse result =
        client.getExecutionStatus(
            GetExecutionStatusRequest.newBuilder().setPlanId(plan.getId()).build());
    System.out.println("result " + name(result.getStatus(), "EXECUTION_STATUS_"));
    JsonFormat.Printer json = JsonFormat.printer().omittingInsignificantWhitespace();
    for (StepResult step : result.getStepResultsList()) {
      System.out.printf(
          "step %s %s %s%n",
          step.getStepName(),
          name(step.getStatus(), "STEP_STATUS_"),
          step.hasOutput() ? json.print(step.getOutput()) : "null");
    }

    submitInvalidPlan(client);
    return result.getStatus() == ExecutionStatus.EXECUTION_STATUS_COMPLETED;
  }

  /** A plan with three mistakes; prints the field violations of the status it is refused with. */
  private static void submitInvalidPlan(ExecutorServiceGrpc.ExecutorServiceBlockingStub client)
      throws InvalidProtocolBufferException {
    ActionPlan plan =
        ActionPlan.newBuilder()
            .setId(UUID.randomUUID().toString())
            .setName("broken")
            .addSteps(toolStep("fetch", "no.such.tool", "{}"))
            .addSteps(toolStep("bill", "echo", "{\"total\": \"${steps.fetch.output.total}\"}", "ghost"))
            .build();
    try {
      client.executePlan(ExecutePlanRequest.newBuilder().setPlan(plan).build());
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.INVALID_ARGUMENT) {
        throw e;
      }
      List<BadRequest.FieldViolation> violations = StatusDetails.fieldViolations(e);
      String reason = StatusDetails.errorInfo(e).map(ErrorInfo::getReason).orElse("");
      System.out.printf(
          "invalid plan rejected: INVALID_ARGUMENT %s, %d field violations:%n",
          reason, violations.size());
      for (BadRequest.FieldViolation v : violations) {
        System.out.printf("  %s: %s%n", v.getField(), v.getDescription());
      }
      if (violations.isEmpty()) {
        throw new IllegalStateException("the rejection carried no field violations");
      }
      return;
    }
    throw new IllegalStateException("the invalid plan was accepted");
  }

  private static ActionStep toolStep(
      String name, String tool, String argumentsJson, String... dependencies)
      throws InvalidProtocolBufferException {
    Struct.Builder arguments = Struct.newBuilder();
    JsonFormat.parser().merge(argumentsJson, arguments);
    return ActionStep.newBuilder()
        .setId(UUID.randomUUID().toString())
        .setName(name)
        .addAllDependencies(List.of(dependencies))
        .setToolExecution(ToolExecution.newBuilder().setToolName(tool).setArguments(arguments))
        .build();
  }

  private static void printEvent(ExecutionEvent event) {
    StringBuilder line =
        new StringBuilder()
            .append("event ")
            .append(event.getSequence())
            .append(' ')
            .append(name(event.getType(), "EXECUTION_EVENT_TYPE_"))
            .append(" execution=")
            .append(name(event.getStatus(), "EXECUTION_STATUS_"));
    if (!event.getStepName().isEmpty()) {
      line.append(" step=")
          .append(event.getStepName())
          .append(':')
          .append(name(event.getStepStatus(), "STEP_STATUS_"));
    }
    if (!event.getMessage().isEmpty()) {
      line.append(" - ").append(event.getMessage());
    }
    System.out.println(line);
  }

  /** An enum value's name without its type's prefix: EXECUTION_STATUS_COMPLETED -> COMPLETED. */
  private static String name(Enum<?> value, String prefix) {
    String name = value.name();
    return name.startsWith(prefix) ? name.substring(prefix.length()) : name;
  }
}
