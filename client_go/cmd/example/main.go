// Command example drives the Executor from Go through the stubs in gen/: it runs a two-step
// plan whose second step uses the first one's output, prints every event of it as
// WatchExecution delivers them and then the result, and shows how a rejected request reads
// (google.rpc.BadRequest field violations in the status details).
//
//	go run ./cmd/example 127.0.0.1:50051
//
// It exits 0 only if the plan COMPLETED and the invalid plan was rejected as such. Set
// EXECUTOR_TOKEN for a server started with --auth-token-file; for one that serves TLS,
// EXECUTOR_TLS_CA (the CA's PEM file; EXECUTOR_TLS=1 trusts the system's CAs instead), and
// for mutual TLS EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY (the client's certificate and key).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	executorv1 "executor.dev/client-go/gen/executor/v1"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: example HOST:PORT")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if token := os.Getenv("EXECUTOR_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	transport, err := transportCredentials()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(transport))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := executorv1.NewExecutorServiceClient(conn)

	plan, err := checkoutPlan()
	if err != nil {
		return err
	}
	// detach: return once the execution is accepted, and follow it with WatchExecution.
	if _, err := client.ExecutePlan(ctx, &executorv1.ExecutePlanRequest{Plan: plan, Detach: true}); err != nil {
		return fmt.Errorf("ExecutePlan: %w", err)
	}
	fmt.Printf("plan %s submitted: fetch -> bill\n", plan.GetId())

	// From sequence 0: every event so far, then live ones; the stream ends after the last.
	stream, err := client.WatchExecution(ctx, &executorv1.WatchExecutionRequest{PlanId: plan.GetId()})
	if err != nil {
		return fmt.Errorf("WatchExecution: %w", err)
	}
	for {
		batch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("WatchExecution: %w", err)
		}
		for _, event := range batch.GetEvents() {
			printEvent(event)
		}
	}

	result, err := client.GetExecutionStatus(ctx, &executorv1.GetExecutionStatusRequest{PlanId: plan.GetId()})
	if err != nil {
		return fmt.Errorf("GetExecutionStatus: %w", err)
	}
	fmt.Println("result", name(result.GetStatus(), "EXECUTION_STATUS_"))
	for _, step := range result.GetStepResults() {
		output, err := json.Marshal(step.GetOutput().AsInterface())
		if err != nil {
			return err
		}
		fmt.Printf("step %s %s %s\n", step.GetStepName(), name(step.GetStatus(), "STEP_STATUS_"), output)
	}

	if err := submitInvalidPlan(ctx, client); err != nil {
		return err
	}
	if result.GetStatus() != executorv1.ExecutionStatus_EXECUTION_STATUS_COMPLETED {
		return fmt.Errorf("the plan ended %s", name(result.GetStatus(), "EXECUTION_STATUS_"))
	}
	return nil
}

// checkoutPlan: "fetch" echoes an order; "bill" depends on it and reads its output, once
// as a whole value (the order number stays a number) and once inside a string.
// transportCredentials: plaintext, or TLS as the EXECUTOR_TLS* variables ask.
func transportCredentials() (credentials.TransportCredentials, error) {
	ca, cert, key := os.Getenv("EXECUTOR_TLS_CA"), os.Getenv("EXECUTOR_TLS_CERT"), os.Getenv("EXECUTOR_TLS_KEY")
	if ca == "" && cert == "" && key == "" && os.Getenv("EXECUTOR_TLS") == "" {
		return insecure.NewCredentials(), nil
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12} // RootCAs nil: the system's
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("EXECUTOR_TLS_CA: %w", err)
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("EXECUTOR_TLS_CA %s: no PEM certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("EXECUTOR_TLS_CERT and EXECUTOR_TLS_KEY go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("EXECUTOR_TLS_CERT, EXECUTOR_TLS_KEY: %w", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

func checkoutPlan() (*executorv1.ActionPlan, error) {
	fetchArgs, err := structpb.NewStruct(map[string]any{"order": 42, "items": []any{"tea", "cake"}})
	if err != nil {
		return nil, err
	}
	billArgs, err := structpb.NewStruct(map[string]any{
		"order":   "${steps.fetch.output.order}",
		"summary": "order ${steps.fetch.output.order}: ${steps.fetch.output.items.0} and ${steps.fetch.output.items.1}",
	})
	if err != nil {
		return nil, err
	}
	return &executorv1.ActionPlan{
		Id:   uuid.NewString(),
		Name: "checkout",
		Steps: []*executorv1.ActionStep{
			toolStep("fetch", "echo", fetchArgs),
			toolStep("bill", "echo", billArgs, "fetch"),
		},
	}, nil
}

func toolStep(stepName, tool string, args *structpb.Struct, dependencies ...string) *executorv1.ActionStep {
	return &executorv1.ActionStep{
		Id:           uuid.NewString(),
		Name:         stepName,
		Dependencies: dependencies,
		StepType: &executorv1.ActionStep_ToolExecution{
			ToolExecution: &executorv1.ToolExecution{ToolName: tool, Arguments: args},
		},
	}
}

func printEvent(event *executorv1.ExecutionEvent) {
	line := fmt.Sprintf("event %d %s execution=%s", event.GetSequence(),
		name(event.GetType(), "EXECUTION_EVENT_TYPE_"), name(event.GetStatus(), "EXECUTION_STATUS_"))
	if event.GetStepName() != "" {
		line += fmt.Sprintf(" step=%s:%s", event.GetStepName(), name(event.GetStepStatus(), "STEP_STATUS_"))
	}
	if event.GetMessage() != "" {
		line += " - " + event.GetMessage()
	}
	fmt.Println(line)
}

// submitInvalidPlan sends a plan with three mistakes and prints the field violations that
// the server's google.rpc.Status details carry.
func submitInvalidPlan(ctx context.Context, client executorv1.ExecutorServiceClient) error {
	billArgs, err := structpb.NewStruct(map[string]any{"total": "${steps.fetch.output.total}"})
	if err != nil {
		return err
	}
	plan := &executorv1.ActionPlan{
		Id:   uuid.NewString(),
		Name: "broken",
		Steps: []*executorv1.ActionStep{
			toolStep("fetch", "no.such.tool", nil),
			toolStep("bill", "echo", billArgs, "ghost"),
		},
	}
	_, err = client.ExecutePlan(ctx, &executorv1.ExecutePlanRequest{Plan: plan})
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != codes.InvalidArgument {
		return fmt.Errorf("the invalid plan was not rejected as INVALID_ARGUMENT: %v", err)
	}
	var reason string
	var violations []*errdetails.BadRequest_FieldViolation
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			violations = append(violations, d.GetFieldViolations()...)
		}
	}
	fmt.Printf("invalid plan rejected: INVALID_ARGUMENT %s, %d field violations:\n", reason, len(violations))
	for _, v := range violations {
		fmt.Printf("  %s: %s\n", v.GetField(), v.GetDescription())
	}
	if len(violations) == 0 {
		return errors.New("the rejection carried no field violations")
	}
	return nil
}

// name is an enum value's name without its type's prefix: EXECUTION_STATUS_COMPLETED -> COMPLETED.
func name(value fmt.Stringer, prefix string) string {
	return strings.TrimPrefix(value.String(), prefix)
}
