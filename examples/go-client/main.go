// Command executor-go-client drives the Executor's gRPC service from Go, through stubs
// generated from the project's proto (gen/, see generate.sh).
//
// It checks health, lists the tools, runs a two-step plan, replays the plan's events,
// reads its status, and shows how a rejected request looks: a gRPC status whose
// details carry google.rpc.BadRequest field violations. Progress goes to stderr; one
// JSON object summarising everything goes to stdout at the end.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	executorv1 "example.com/executor-go-client/gen/executor/v1"
)

// Summary is what the program prints to stdout at the end.
type Summary struct {
	Addr          string             `json:"addr"`
	Health        string             `json:"health"`
	Tools         []string           `json:"tools"`
	PlanID        string             `json:"plan_id"`
	PlanStatus    string             `json:"plan_status"`  // from ExecutePlan
	FinalStatus   string             `json:"final_status"` // from GetExecutionStatus
	StepStatuses  map[string]string  `json:"step_statuses"`
	StepOutputs   map[string]any     `json:"step_outputs"`
	Events        []EventSummary     `json:"events"`
	Sequences     []uint64           `json:"event_sequences"`
	LastSequence  uint64             `json:"last_sequence"`
	InvalidPlan   InvalidPlanSummary `json:"invalid_plan"`
	ToolCallCount uint64             `json:"tool_invocations"`
}

// EventSummary is one ExecutionEvent, reduced to what identifies it.
type EventSummary struct {
	Sequence   uint64 `json:"sequence"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	StepName   string `json:"step_name,omitempty"`
	StepStatus string `json:"step_status,omitempty"`
	Actor      string `json:"actor,omitempty"` // who asked for it, on an authenticating server
}

// InvalidPlanSummary is the failed ExecutePlan call of an invalid plan.
type InvalidPlanSummary struct {
	Code            string           `json:"code"` // canonical name, e.g. INVALID_ARGUMENT
	CodeNumber      uint32           `json:"code_number"`
	Message         string           `json:"message"`
	Reason          string           `json:"reason"` // google.rpc.ErrorInfo.reason
	FieldViolations []FieldViolation `json:"field_violations"`
}

// FieldViolation is one google.rpc.BadRequest.FieldViolation.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "HOST:PORT of the Executor server")
	token := flag.String("token", os.Getenv("EXECUTOR_TOKEN"),
		"bearer token, for servers started with --auth-token-file (default $EXECUTOR_TOKEN)")
	timeout := flag.Duration("timeout", 60*time.Second, "deadline of the whole run")
	tlsCA := flag.String("tls-ca", "", "speak TLS, trusting this CA's PEM (servers started with --tls-cert)")
	tlsCert := flag.String("tls-cert", "", "client certificate PEM, for mutual TLS (--tls-client-ca)")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("executor-go-client: ")

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}

	transport, err := transportCredentials(*tlsCA, *tlsCert, *tlsKey)
	if err != nil {
		log.Fatal(err)
	}
	summary, err := run(ctx, *addr, transport)
	if err != nil {
		log.Fatal(err)
	}
	out, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
}

// transportCredentials is plaintext without a CA, else TLS trusting that CA, with a client
// certificate when one is given.
func transportCredentials(caFile, certFile, keyFile string) (credentials.TransportCredentials, error) {
	if caFile == "" {
		if certFile != "" || keyFile != "" {
			return nil, errors.New("-tls-cert and -tls-key need -tls-ca")
		}
		return insecure.NewCredentials(), nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate in it", caFile)
	}
	config := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

func run(ctx context.Context, addr string, transport credentials.TransportCredentials) (*Summary, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(transport))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	client := executorv1.NewExecutorServiceClient(conn)
	summary := &Summary{
		Addr:         addr,
		StepStatuses: map[string]string{},
		StepOutputs:  map[string]any{},
	}

	// 1. Health of the Executor service (standard grpc.health.v1).
	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{
		Service: executorv1.ExecutorService_ServiceDesc.ServiceName,
	})
	if err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	summary.Health = health.GetStatus().String()
	log.Printf("health: %s", summary.Health)

	// 2. The tools, page by page.
	pageToken := ""
	for {
		page, err := client.ListTools(ctx, &executorv1.ListToolsRequest{PageToken: pageToken})
		if err != nil {
			return nil, fmt.Errorf("ListTools: %w", err)
		}
		for _, tool := range page.GetTools() {
			summary.Tools = append(summary.Tools, tool.GetName())
		}
		if pageToken = page.GetNextPageToken(); pageToken == "" {
			break
		}
	}
	log.Printf("tools: %v", summary.Tools)

	// 3. A two-step plan: "shout" depends on "greet" and reads its output.
	plan, err := greetingPlan()
	if err != nil {
		return nil, err
	}
	summary.PlanID = plan.GetId()
	executed, err := client.ExecutePlan(ctx, &executorv1.ExecutePlanRequest{Plan: plan})
	if err != nil {
		return nil, fmt.Errorf("ExecutePlan: %w", err)
	}
	summary.PlanStatus = executed.GetResult().GetStatus().String()
	log.Printf("plan %s: %s", plan.GetId(), summary.PlanStatus)

	// 4. Every event of the execution, replayed from the start; the stream ends after
	// the terminal event.
	stream, err := client.WatchExecution(ctx, &executorv1.WatchExecutionRequest{
		PlanId:        plan.GetId(),
		AfterSequence: 0,
	})
	if err != nil {
		return nil, fmt.Errorf("WatchExecution: %w", err)
	}
	for {
		batch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("WatchExecution: %w", err)
		}
		for _, event := range batch.GetEvents() {
			e := EventSummary{
				Sequence: event.GetSequence(),
				Type:     event.GetType().String(),
				Status:   event.GetStatus().String(),
				StepName: event.GetStepName(),
				Actor:    event.GetActor(),
			}
			if event.GetStepStatus() != executorv1.StepStatus_STEP_STATUS_UNSPECIFIED {
				e.StepStatus = event.GetStepStatus().String()
			}
			summary.Events = append(summary.Events, e)
			summary.Sequences = append(summary.Sequences, e.Sequence)
			log.Printf("event %d: %s %s %s %s", e.Sequence, e.Type, e.Status, e.StepName, e.StepStatus)
		}
	}

	// 5. The execution's status, with each step's output.
	got, err := client.GetExecutionStatus(ctx, &executorv1.GetExecutionStatusRequest{
		PlanId: plan.GetId(),
	})
	if err != nil {
		return nil, fmt.Errorf("GetExecutionStatus: %w", err)
	}
	summary.FinalStatus = got.GetStatus().String()
	summary.LastSequence = got.GetLastSequence()
	summary.ToolCallCount = got.GetResourceUsage().GetToolInvocations()
	for _, step := range got.GetStepResults() {
		summary.StepStatuses[step.GetStepName()] = step.GetStatus().String()
		if step.GetOutput() != nil {
			summary.StepOutputs[step.GetStepName()] = step.GetOutput().AsInterface()
		}
	}
	log.Printf("status: %s, outputs: %v", summary.FinalStatus, summary.StepOutputs)

	// 6. A request the server rejects: a plan without steps.
	invalid, err := invalidPlanError(ctx, client)
	if err != nil {
		return nil, err
	}
	summary.InvalidPlan = *invalid
	log.Printf("invalid plan: %s %q %v", invalid.Code, invalid.Message, invalid.FieldViolations)
	return summary, nil
}

// greetingPlan builds greet (echo) -> shout (echo of greet's message, with a "!").
func greetingPlan() (*executorv1.ActionPlan, error) {
	greetArgs, err := structpb.NewStruct(map[string]any{"message": "hello from Go"})
	if err != nil {
		return nil, err
	}
	shoutArgs, err := structpb.NewStruct(map[string]any{"text": "${steps.greet.output.message}!"})
	if err != nil {
		return nil, err
	}
	planMetadata, err := structpb.NewStruct(map[string]any{"client": "go"})
	if err != nil {
		return nil, err
	}
	return &executorv1.ActionPlan{
		Id:       newUUID(),
		Name:     "go-client-example",
		Metadata: planMetadata,
		Steps: []*executorv1.ActionStep{
			{
				Id:   newUUID(),
				Name: "greet",
				StepType: &executorv1.ActionStep_ToolExecution{ToolExecution: &executorv1.ToolExecution{
					ToolName:  "echo",
					Arguments: greetArgs,
				}},
			},
			{
				Id:           newUUID(),
				Name:         "shout",
				Dependencies: []string{"greet"},
				StepType: &executorv1.ActionStep_ToolExecution{ToolExecution: &executorv1.ToolExecution{
					ToolName:  "echo",
					Arguments: shoutArgs,
				}},
			},
		},
	}, nil
}

// invalidPlanError submits a plan with no steps and decodes the error it gets back.
func invalidPlanError(ctx context.Context, client executorv1.ExecutorServiceClient) (*InvalidPlanSummary, error) {
	_, err := client.ExecutePlan(ctx, &executorv1.ExecutePlanRequest{
		Plan: &executorv1.ActionPlan{Id: newUUID(), Name: "no-steps"},
	})
	if err == nil {
		return nil, errors.New("ExecutePlan of a plan without steps unexpectedly succeeded")
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil, fmt.Errorf("ExecutePlan of an invalid plan: not a gRPC status: %w", err)
	}
	out := &InvalidPlanSummary{
		Code:            codeName(st.Code()),
		CodeNumber:      uint32(st.Code()),
		Message:         st.Message(),
		FieldViolations: []FieldViolation{},
	}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out.FieldViolations = append(out.FieldViolations, FieldViolation{
					Field:       v.GetField(),
					Description: v.GetDescription(),
				})
			}
		case *errdetails.ErrorInfo:
			out.Reason = d.GetReason()
		case error:
			// A detail whose type is not linked in (status.Details reports it as an error).
			log.Printf("undecodable status detail: %v", d)
		}
	}
	return out, nil
}

// codeName is the canonical name of a status code (codes.Code.String() gives the Go
// spelling, "InvalidArgument").
func codeName(code codes.Code) string {
	names := map[codes.Code]string{
		codes.OK:                 "OK",
		codes.Canceled:           "CANCELLED",
		codes.Unknown:            "UNKNOWN",
		codes.InvalidArgument:    "INVALID_ARGUMENT",
		codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
		codes.NotFound:           "NOT_FOUND",
		codes.AlreadyExists:      "ALREADY_EXISTS",
		codes.PermissionDenied:   "PERMISSION_DENIED",
		codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION",
		codes.Aborted:            "ABORTED",
		codes.OutOfRange:         "OUT_OF_RANGE",
		codes.Unimplemented:      "UNIMPLEMENTED",
		codes.Internal:           "INTERNAL",
		codes.Unavailable:        "UNAVAILABLE",
		codes.DataLoss:           "DATA_LOSS",
		codes.Unauthenticated:    "UNAUTHENTICATED",
	}
	if name, ok := names[code]; ok {
		return name
	}
	return code.String()
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand.Read never fails on supported platforms (Go >= 1.24)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
