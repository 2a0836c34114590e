package dev.executor.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * ExecutorService runs action plans and single steps, and controls running
 * executions. Failures of a plan are data (status FAILED plus an
 * ExecutionError); failures of a request are gRPC statuses carrying
 * google.rpc.ErrorInfo / BadRequest details.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ExecutorServiceGrpc {

  private ExecutorServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "executor.v1.ExecutorService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ExecutePlanRequest,
      dev.executor.v1.ExecutePlanResponse> getExecutePlanMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ExecutePlan",
      requestType = dev.executor.v1.ExecutePlanRequest.class,
      responseType = dev.executor.v1.ExecutePlanResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ExecutePlanRequest,
      dev.executor.v1.ExecutePlanResponse> getExecutePlanMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ExecutePlanRequest, dev.executor.v1.ExecutePlanResponse> getExecutePlanMethod;
    if ((getExecutePlanMethod = ExecutorServiceGrpc.getExecutePlanMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getExecutePlanMethod = ExecutorServiceGrpc.getExecutePlanMethod) == null) {
          ExecutorServiceGrpc.getExecutePlanMethod = getExecutePlanMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ExecutePlanRequest, dev.executor.v1.ExecutePlanResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ExecutePlan"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ExecutePlanRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ExecutePlanResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ExecutePlan"))
              .build();
        }
      }
    }
    return getExecutePlanMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ExecuteStepRequest,
      dev.executor.v1.ExecuteStepResponse> getExecuteStepMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ExecuteStep",
      requestType = dev.executor.v1.ExecuteStepRequest.class,
      responseType = dev.executor.v1.ExecuteStepResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ExecuteStepRequest,
      dev.executor.v1.ExecuteStepResponse> getExecuteStepMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ExecuteStepRequest, dev.executor.v1.ExecuteStepResponse> getExecuteStepMethod;
    if ((getExecuteStepMethod = ExecutorServiceGrpc.getExecuteStepMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getExecuteStepMethod = ExecutorServiceGrpc.getExecuteStepMethod) == null) {
          ExecutorServiceGrpc.getExecuteStepMethod = getExecuteStepMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ExecuteStepRequest, dev.executor.v1.ExecuteStepResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ExecuteStep"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ExecuteStepRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ExecuteStepResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ExecuteStep"))
              .build();
        }
      }
    }
    return getExecuteStepMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.CancelExecutionRequest,
      dev.executor.v1.CancelExecutionResponse> getCancelExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CancelExecution",
      requestType = dev.executor.v1.CancelExecutionRequest.class,
      responseType = dev.executor.v1.CancelExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.CancelExecutionRequest,
      dev.executor.v1.CancelExecutionResponse> getCancelExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.CancelExecutionRequest, dev.executor.v1.CancelExecutionResponse> getCancelExecutionMethod;
    if ((getCancelExecutionMethod = ExecutorServiceGrpc.getCancelExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getCancelExecutionMethod = ExecutorServiceGrpc.getCancelExecutionMethod) == null) {
          ExecutorServiceGrpc.getCancelExecutionMethod = getCancelExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.CancelExecutionRequest, dev.executor.v1.CancelExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CancelExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.CancelExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.CancelExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("CancelExecution"))
              .build();
        }
      }
    }
    return getCancelExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.PauseExecutionRequest,
      dev.executor.v1.PauseExecutionResponse> getPauseExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "PauseExecution",
      requestType = dev.executor.v1.PauseExecutionRequest.class,
      responseType = dev.executor.v1.PauseExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.PauseExecutionRequest,
      dev.executor.v1.PauseExecutionResponse> getPauseExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.PauseExecutionRequest, dev.executor.v1.PauseExecutionResponse> getPauseExecutionMethod;
    if ((getPauseExecutionMethod = ExecutorServiceGrpc.getPauseExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getPauseExecutionMethod = ExecutorServiceGrpc.getPauseExecutionMethod) == null) {
          ExecutorServiceGrpc.getPauseExecutionMethod = getPauseExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.PauseExecutionRequest, dev.executor.v1.PauseExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "PauseExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.PauseExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.PauseExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("PauseExecution"))
              .build();
        }
      }
    }
    return getPauseExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ResumeExecutionRequest,
      dev.executor.v1.ResumeExecutionResponse> getResumeExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ResumeExecution",
      requestType = dev.executor.v1.ResumeExecutionRequest.class,
      responseType = dev.executor.v1.ResumeExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ResumeExecutionRequest,
      dev.executor.v1.ResumeExecutionResponse> getResumeExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ResumeExecutionRequest, dev.executor.v1.ResumeExecutionResponse> getResumeExecutionMethod;
    if ((getResumeExecutionMethod = ExecutorServiceGrpc.getResumeExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getResumeExecutionMethod = ExecutorServiceGrpc.getResumeExecutionMethod) == null) {
          ExecutorServiceGrpc.getResumeExecutionMethod = getResumeExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ResumeExecutionRequest, dev.executor.v1.ResumeExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ResumeExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ResumeExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ResumeExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ResumeExecution"))
              .build();
        }
      }
    }
    return getResumeExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.GetExecutionStatusRequest,
      dev.executor.v1.GetExecutionStatusResponse> getGetExecutionStatusMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetExecutionStatus",
      requestType = dev.executor.v1.GetExecutionStatusRequest.class,
      responseType = dev.executor.v1.GetExecutionStatusResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.GetExecutionStatusRequest,
      dev.executor.v1.GetExecutionStatusResponse> getGetExecutionStatusMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.GetExecutionStatusRequest, dev.executor.v1.GetExecutionStatusResponse> getGetExecutionStatusMethod;
    if ((getGetExecutionStatusMethod = ExecutorServiceGrpc.getGetExecutionStatusMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getGetExecutionStatusMethod = ExecutorServiceGrpc.getGetExecutionStatusMethod) == null) {
          ExecutorServiceGrpc.getGetExecutionStatusMethod = getGetExecutionStatusMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.GetExecutionStatusRequest, dev.executor.v1.GetExecutionStatusResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetExecutionStatus"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.GetExecutionStatusRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.GetExecutionStatusResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("GetExecutionStatus"))
              .build();
        }
      }
    }
    return getGetExecutionStatusMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.RollbackExecutionRequest,
      dev.executor.v1.RollbackExecutionResponse> getRollbackExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RollbackExecution",
      requestType = dev.executor.v1.RollbackExecutionRequest.class,
      responseType = dev.executor.v1.RollbackExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.RollbackExecutionRequest,
      dev.executor.v1.RollbackExecutionResponse> getRollbackExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.RollbackExecutionRequest, dev.executor.v1.RollbackExecutionResponse> getRollbackExecutionMethod;
    if ((getRollbackExecutionMethod = ExecutorServiceGrpc.getRollbackExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getRollbackExecutionMethod = ExecutorServiceGrpc.getRollbackExecutionMethod) == null) {
          ExecutorServiceGrpc.getRollbackExecutionMethod = getRollbackExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.RollbackExecutionRequest, dev.executor.v1.RollbackExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RollbackExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.RollbackExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.RollbackExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("RollbackExecution"))
              .build();
        }
      }
    }
    return getRollbackExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.WatchExecutionRequest,
      dev.executor.v1.WatchExecutionResponse> getWatchExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchExecution",
      requestType = dev.executor.v1.WatchExecutionRequest.class,
      responseType = dev.executor.v1.WatchExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.executor.v1.WatchExecutionRequest,
      dev.executor.v1.WatchExecutionResponse> getWatchExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.WatchExecutionRequest, dev.executor.v1.WatchExecutionResponse> getWatchExecutionMethod;
    if ((getWatchExecutionMethod = ExecutorServiceGrpc.getWatchExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getWatchExecutionMethod = ExecutorServiceGrpc.getWatchExecutionMethod) == null) {
          ExecutorServiceGrpc.getWatchExecutionMethod = getWatchExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.WatchExecutionRequest, dev.executor.v1.WatchExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.WatchExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.WatchExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("WatchExecution"))
              .build();
        }
      }
    }
    return getWatchExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ListToolsRequest,
      dev.executor.v1.ListToolsResponse> getListToolsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListTools",
      requestType = dev.executor.v1.ListToolsRequest.class,
      responseType = dev.executor.v1.ListToolsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ListToolsRequest,
      dev.executor.v1.ListToolsResponse> getListToolsMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ListToolsRequest, dev.executor.v1.ListToolsResponse> getListToolsMethod;
    if ((getListToolsMethod = ExecutorServiceGrpc.getListToolsMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getListToolsMethod = ExecutorServiceGrpc.getListToolsMethod) == null) {
          ExecutorServiceGrpc.getListToolsMethod = getListToolsMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ListToolsRequest, dev.executor.v1.ListToolsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListTools"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ListToolsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ListToolsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ListTools"))
              .build();
        }
      }
    }
    return getListToolsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ListExecutionsRequest,
      dev.executor.v1.ListExecutionsResponse> getListExecutionsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListExecutions",
      requestType = dev.executor.v1.ListExecutionsRequest.class,
      responseType = dev.executor.v1.ListExecutionsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ListExecutionsRequest,
      dev.executor.v1.ListExecutionsResponse> getListExecutionsMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ListExecutionsRequest, dev.executor.v1.ListExecutionsResponse> getListExecutionsMethod;
    if ((getListExecutionsMethod = ExecutorServiceGrpc.getListExecutionsMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getListExecutionsMethod = ExecutorServiceGrpc.getListExecutionsMethod) == null) {
          ExecutorServiceGrpc.getListExecutionsMethod = getListExecutionsMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ListExecutionsRequest, dev.executor.v1.ListExecutionsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListExecutions"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ListExecutionsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ListExecutionsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ListExecutions"))
              .build();
        }
      }
    }
    return getListExecutionsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.DeleteExecutionRequest,
      dev.executor.v1.DeleteExecutionResponse> getDeleteExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteExecution",
      requestType = dev.executor.v1.DeleteExecutionRequest.class,
      responseType = dev.executor.v1.DeleteExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.DeleteExecutionRequest,
      dev.executor.v1.DeleteExecutionResponse> getDeleteExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.DeleteExecutionRequest, dev.executor.v1.DeleteExecutionResponse> getDeleteExecutionMethod;
    if ((getDeleteExecutionMethod = ExecutorServiceGrpc.getDeleteExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getDeleteExecutionMethod = ExecutorServiceGrpc.getDeleteExecutionMethod) == null) {
          ExecutorServiceGrpc.getDeleteExecutionMethod = getDeleteExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.DeleteExecutionRequest, dev.executor.v1.DeleteExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.DeleteExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.DeleteExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("DeleteExecution"))
              .build();
        }
      }
    }
    return getDeleteExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ApproveStepRequest,
      dev.executor.v1.ApproveStepResponse> getApproveStepMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ApproveStep",
      requestType = dev.executor.v1.ApproveStepRequest.class,
      responseType = dev.executor.v1.ApproveStepResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ApproveStepRequest,
      dev.executor.v1.ApproveStepResponse> getApproveStepMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ApproveStepRequest, dev.executor.v1.ApproveStepResponse> getApproveStepMethod;
    if ((getApproveStepMethod = ExecutorServiceGrpc.getApproveStepMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getApproveStepMethod = ExecutorServiceGrpc.getApproveStepMethod) == null) {
          ExecutorServiceGrpc.getApproveStepMethod = getApproveStepMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ApproveStepRequest, dev.executor.v1.ApproveStepResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ApproveStep"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ApproveStepRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ApproveStepResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ApproveStep"))
              .build();
        }
      }
    }
    return getApproveStepMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.SignalExecutionRequest,
      dev.executor.v1.SignalExecutionResponse> getSignalExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SignalExecution",
      requestType = dev.executor.v1.SignalExecutionRequest.class,
      responseType = dev.executor.v1.SignalExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.SignalExecutionRequest,
      dev.executor.v1.SignalExecutionResponse> getSignalExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.SignalExecutionRequest, dev.executor.v1.SignalExecutionResponse> getSignalExecutionMethod;
    if ((getSignalExecutionMethod = ExecutorServiceGrpc.getSignalExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getSignalExecutionMethod = ExecutorServiceGrpc.getSignalExecutionMethod) == null) {
          ExecutorServiceGrpc.getSignalExecutionMethod = getSignalExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.SignalExecutionRequest, dev.executor.v1.SignalExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SignalExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.SignalExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.SignalExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("SignalExecution"))
              .build();
        }
      }
    }
    return getSignalExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.ListApprovalsRequest,
      dev.executor.v1.ListApprovalsResponse> getListApprovalsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListApprovals",
      requestType = dev.executor.v1.ListApprovalsRequest.class,
      responseType = dev.executor.v1.ListApprovalsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.ListApprovalsRequest,
      dev.executor.v1.ListApprovalsResponse> getListApprovalsMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.ListApprovalsRequest, dev.executor.v1.ListApprovalsResponse> getListApprovalsMethod;
    if ((getListApprovalsMethod = ExecutorServiceGrpc.getListApprovalsMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getListApprovalsMethod = ExecutorServiceGrpc.getListApprovalsMethod) == null) {
          ExecutorServiceGrpc.getListApprovalsMethod = getListApprovalsMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.ListApprovalsRequest, dev.executor.v1.ListApprovalsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListApprovals"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ListApprovalsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.ListApprovalsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("ListApprovals"))
              .build();
        }
      }
    }
    return getListApprovalsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.executor.v1.RetryExecutionRequest,
      dev.executor.v1.RetryExecutionResponse> getRetryExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RetryExecution",
      requestType = dev.executor.v1.RetryExecutionRequest.class,
      responseType = dev.executor.v1.RetryExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.executor.v1.RetryExecutionRequest,
      dev.executor.v1.RetryExecutionResponse> getRetryExecutionMethod() {
    io.grpc.MethodDescriptor<dev.executor.v1.RetryExecutionRequest, dev.executor.v1.RetryExecutionResponse> getRetryExecutionMethod;
    if ((getRetryExecutionMethod = ExecutorServiceGrpc.getRetryExecutionMethod) == null) {
      synchronized (ExecutorServiceGrpc.class) {
        if ((getRetryExecutionMethod = ExecutorServiceGrpc.getRetryExecutionMethod) == null) {
          ExecutorServiceGrpc.getRetryExecutionMethod = getRetryExecutionMethod =
              io.grpc.MethodDescriptor.<dev.executor.v1.RetryExecutionRequest, dev.executor.v1.RetryExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RetryExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.RetryExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.executor.v1.RetryExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutorServiceMethodDescriptorSupplier("RetryExecution"))
              .build();
        }
      }
    }
    return getRetryExecutionMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ExecutorServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceStub>() {
        @java.lang.Override
        public ExecutorServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutorServiceStub(channel, callOptions);
        }
      };
    return ExecutorServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ExecutorServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceBlockingV2Stub>() {
        @java.lang.Override
        public ExecutorServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutorServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return ExecutorServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ExecutorServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceBlockingStub>() {
        @java.lang.Override
        public ExecutorServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutorServiceBlockingStub(channel, callOptions);
        }
      };
    return ExecutorServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ExecutorServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutorServiceFutureStub>() {
        @java.lang.Override
        public ExecutorServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutorServiceFutureStub(channel, callOptions);
        }
      };
    return ExecutorServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * ExecutorService runs action plans and single steps, and controls running
   * executions. Failures of a plan are data (status FAILED plus an
   * ExecutionError); failures of a request are gRPC statuses carrying
   * google.rpc.ErrorInfo / BadRequest details.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Validates and runs a plan. Blocks until the execution ends unless
     * `detach` is set. Submitting the same plan id with the same content
     * attaches to the existing execution; different content is ALREADY_EXISTS.
     * </pre>
     */
    default void executePlan(dev.executor.v1.ExecutePlanRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ExecutePlanResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExecutePlanMethod(), responseObserver);
    }

    /**
     * <pre>
     * Runs one step outside any plan and returns its result.
     * </pre>
     */
    default void executeStep(dev.executor.v1.ExecuteStepRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ExecuteStepResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExecuteStepMethod(), responseObserver);
    }

    /**
     * <pre>
     * Cancels running attempts; pending steps become CANCELLED.
     * </pre>
     */
    default void cancelExecution(dev.executor.v1.CancelExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.CancelExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCancelExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Stops new attempts and pending retries; running attempts finish.
     * </pre>
     */
    default void pauseExecution(dev.executor.v1.PauseExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.PauseExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getPauseExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Continues a paused execution where it stopped.
     * </pre>
     */
    default void resumeExecution(dev.executor.v1.ResumeExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ResumeExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getResumeExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Status, progress, step results and usage of one execution.
     * </pre>
     */
    default void getExecutionStatus(dev.executor.v1.GetExecutionStatusRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.GetExecutionStatusResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetExecutionStatusMethod(), responseObserver);
    }

    /**
     * <pre>
     * Runs the compensations of completed steps in reverse dependency order.
     * </pre>
     */
    default void rollbackExecution(dev.executor.v1.RollbackExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.RollbackExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRollbackExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Replays the events after `after_sequence`, then follows live; the stream
     * ends after the execution's terminal event.
     * </pre>
     */
    default void watchExecution(dev.executor.v1.WatchExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.WatchExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * The tools this server can run, with their JSON schemas.
     * </pre>
     */
    default void listTools(dev.executor.v1.ListToolsRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ListToolsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListToolsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Executions the server knows, newest first, filtered and paged (AIP-158).
     * </pre>
     */
    default void listExecutions(dev.executor.v1.ListExecutionsRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ListExecutionsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListExecutionsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Forgets a finished execution: its journal, results and workspace.
     * </pre>
     */
    default void deleteExecution(dev.executor.v1.DeleteExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.DeleteExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Decides an approval gate: APPROVE runs the step's tool (with edited
     * arguments when the gate allows it), REJECT fails the step with REJECTED.
     * Answers once the decision is journaled.
     * </pre>
     */
    default void approveStep(dev.executor.v1.ApproveStepRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ApproveStepResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getApproveStepMethod(), responseObserver);
    }

    /**
     * <pre>
     * Delivers a named signal to the step that waits for it (kept until that
     * step starts waiting, when it arrives first).
     * </pre>
     */
    default void signalExecution(dev.executor.v1.SignalExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.SignalExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSignalExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * The inbox: approval gates waiting for a decision, oldest first, paged
     * (AIP-158).
     * </pre>
     */
    default void listApprovals(dev.executor.v1.ListApprovalsRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ListApprovalsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListApprovalsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Re-runs a FAILED or CANCELLED execution from where it failed (redrive): its
     * FAILED, CANCELLED and SKIPPED steps run again, COMPLETED steps keep their
     * outputs. Blocks until the execution ends unless `detach` is set.
     * </pre>
     */
    default void retryExecution(dev.executor.v1.RetryExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.RetryExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRetryExecutionMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ExecutorService.
   * <pre>
   * ExecutorService runs action plans and single steps, and controls running
   * executions. Failures of a plan are data (status FAILED plus an
   * ExecutionError); failures of a request are gRPC statuses carrying
   * google.rpc.ErrorInfo / BadRequest details.
   * </pre>
   */
  public static abstract class ExecutorServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ExecutorServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ExecutorService.
   * <pre>
   * ExecutorService runs action plans and single steps, and controls running
   * executions. Failures of a plan are data (status FAILED plus an
   * ExecutionError); failures of a request are gRPC statuses carrying
   * google.rpc.ErrorInfo / BadRequest details.
   * </pre>
   */
  public static final class ExecutorServiceStub
      extends io.grpc.stub.AbstractAsyncStub<ExecutorServiceStub> {
    private ExecutorServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutorServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutorServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Validates and runs a plan. Blocks until the execution ends unless
     * `detach` is set. Submitting the same plan id with the same content
     * attaches to the existing execution; different content is ALREADY_EXISTS.
     * </pre>
     */
    public void executePlan(dev.executor.v1.ExecutePlanRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ExecutePlanResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getExecutePlanMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Runs one step outside any plan and returns its result.
     * </pre>
     */
    public void executeStep(dev.executor.v1.ExecuteStepRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ExecuteStepResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getExecuteStepMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Cancels running attempts; pending steps become CANCELLED.
     * </pre>
     */
    public void cancelExecution(dev.executor.v1.CancelExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.CancelExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCancelExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Stops new attempts and pending retries; running attempts finish.
     * </pre>
     */
    public void pauseExecution(dev.executor.v1.PauseExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.PauseExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getPauseExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Continues a paused execution where it stopped.
     * </pre>
     */
    public void resumeExecution(dev.executor.v1.ResumeExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ResumeExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getResumeExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Status, progress, step results and usage of one execution.
     * </pre>
     */
    public void getExecutionStatus(dev.executor.v1.GetExecutionStatusRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.GetExecutionStatusResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetExecutionStatusMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Runs the compensations of completed steps in reverse dependency order.
     * </pre>
     */
    public void rollbackExecution(dev.executor.v1.RollbackExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.RollbackExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRollbackExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Replays the events after `after_sequence`, then follows live; the stream
     * ends after the execution's terminal event.
     * </pre>
     */
    public void watchExecution(dev.executor.v1.WatchExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.WatchExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The tools this server can run, with their JSON schemas.
     * </pre>
     */
    public void listTools(dev.executor.v1.ListToolsRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ListToolsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListToolsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Executions the server knows, newest first, filtered and paged (AIP-158).
     * </pre>
     */
    public void listExecutions(dev.executor.v1.ListExecutionsRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ListExecutionsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListExecutionsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Forgets a finished execution: its journal, results and workspace.
     * </pre>
     */
    public void deleteExecution(dev.executor.v1.DeleteExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.DeleteExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Decides an approval gate: APPROVE runs the step's tool (with edited
     * arguments when the gate allows it), REJECT fails the step with REJECTED.
     * Answers once the decision is journaled.
     * </pre>
     */
    public void approveStep(dev.executor.v1.ApproveStepRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ApproveStepResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getApproveStepMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Delivers a named signal to the step that waits for it (kept until that
     * step starts waiting, when it arrives first).
     * </pre>
     */
    public void signalExecution(dev.executor.v1.SignalExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.SignalExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSignalExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The inbox: approval gates waiting for a decision, oldest first, paged
     * (AIP-158).
     * </pre>
     */
    public void listApprovals(dev.executor.v1.ListApprovalsRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.ListApprovalsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListApprovalsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Re-runs a FAILED or CANCELLED execution from where it failed (redrive): its
     * FAILED, CANCELLED and SKIPPED steps run again, COMPLETED steps keep their
     * outputs. Blocks until the execution ends unless `detach` is set.
     * </pre>
     */
    public void retryExecution(dev.executor.v1.RetryExecutionRequest request,
        io.grpc.stub.StreamObserver<dev.executor.v1.RetryExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRetryExecutionMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ExecutorService.
   * <pre>
   * ExecutorService runs action plans and single steps, and controls running
   * executions. Failures of a plan are data (status FAILED plus an
   * ExecutionError); failures of a request are gRPC statuses carrying
   * google.rpc.ErrorInfo / BadRequest details.
   * </pre>
   */
  public static final class ExecutorServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ExecutorServiceBlockingV2Stub> {
    private ExecutorServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutorServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutorServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Validates and runs a plan. Blocks until the execution ends unless
     * `detach` is set. Submitting the same plan id with the same content
     * attaches to the existing execution; different content is ALREADY_EXISTS.
     * </pre>
     */
    public dev.executor.v1.ExecutePlanResponse executePlan(dev.executor.v1.ExecutePlanRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getExecutePlanMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs one step outside any plan and returns its result.
     * </pre>
     */
    public dev.executor.v1.ExecuteStepResponse executeStep(dev.executor.v1.ExecuteStepRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getExecuteStepMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Cancels running attempts; pending steps become CANCELLED.
     * </pre>
     */
    public dev.executor.v1.CancelExecutionResponse cancelExecution(dev.executor.v1.CancelExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCancelExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Stops new attempts and pending retries; running attempts finish.
     * </pre>
     */
    public dev.executor.v1.PauseExecutionResponse pauseExecution(dev.executor.v1.PauseExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getPauseExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Continues a paused execution where it stopped.
     * </pre>
     */
    public dev.executor.v1.ResumeExecutionResponse resumeExecution(dev.executor.v1.ResumeExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getResumeExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Status, progress, step results and usage of one execution.
     * </pre>
     */
    public dev.executor.v1.GetExecutionStatusResponse getExecutionStatus(dev.executor.v1.GetExecutionStatusRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetExecutionStatusMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs the compensations of completed steps in reverse dependency order.
     * </pre>
     */
    public dev.executor.v1.RollbackExecutionResponse rollbackExecution(dev.executor.v1.RollbackExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRollbackExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Replays the events after `after_sequence`, then follows live; the stream
     * ends after the execution's terminal event.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, dev.executor.v1.WatchExecutionResponse>
        watchExecution(dev.executor.v1.WatchExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getWatchExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The tools this server can run, with their JSON schemas.
     * </pre>
     */
    public dev.executor.v1.ListToolsResponse listTools(dev.executor.v1.ListToolsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListToolsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Executions the server knows, newest first, filtered and paged (AIP-158).
     * </pre>
     */
    public dev.executor.v1.ListExecutionsResponse listExecutions(dev.executor.v1.ListExecutionsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListExecutionsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Forgets a finished execution: its journal, results and workspace.
     * </pre>
     */
    public dev.executor.v1.DeleteExecutionResponse deleteExecution(dev.executor.v1.DeleteExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDeleteExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Decides an approval gate: APPROVE runs the step's tool (with edited
     * arguments when the gate allows it), REJECT fails the step with REJECTED.
     * Answers once the decision is journaled.
     * </pre>
     */
    public dev.executor.v1.ApproveStepResponse approveStep(dev.executor.v1.ApproveStepRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getApproveStepMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Delivers a named signal to the step that waits for it (kept until that
     * step starts waiting, when it arrives first).
     * </pre>
     */
    public dev.executor.v1.SignalExecutionResponse signalExecution(dev.executor.v1.SignalExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getSignalExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The inbox: approval gates waiting for a decision, oldest first, paged
     * (AIP-158).
     * </pre>
     */
    public dev.executor.v1.ListApprovalsResponse listApprovals(dev.executor.v1.ListApprovalsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListApprovalsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Re-runs a FAILED or CANCELLED execution from where it failed (redrive): its
     * FAILED, CANCELLED and SKIPPED steps run again, COMPLETED steps keep their
     * outputs. Blocks until the execution ends unless `detach` is set.
     * </pre>
     */
    public dev.executor.v1.RetryExecutionResponse retryExecution(dev.executor.v1.RetryExecutionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRetryExecutionMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ExecutorService.
   * <pre>
   * ExecutorService runs action plans and single steps, and controls running
   * executions. Failures of a plan are data (status FAILED plus an
   * ExecutionError); failures of a request are gRPC statuses carrying
   * google.rpc.ErrorInfo / BadRequest details.
   * </pre>
   */
  public static final class ExecutorServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ExecutorServiceBlockingStub> {
    private ExecutorServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutorServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutorServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Validates and runs a plan. Blocks until the execution ends unless
     * `detach` is set. Submitting the same plan id with the same content
     * attaches to the existing execution; different content is ALREADY_EXISTS.
     * </pre>
     */
    public dev.executor.v1.ExecutePlanResponse executePlan(dev.executor.v1.ExecutePlanRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getExecutePlanMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs one step outside any plan and returns its result.
     * </pre>
     */
    public dev.executor.v1.ExecuteStepResponse executeStep(dev.executor.v1.ExecuteStepRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getExecuteStepMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Cancels running attempts; pending steps become CANCELLED.
     * </pre>
     */
    public dev.executor.v1.CancelExecutionResponse cancelExecution(dev.executor.v1.CancelExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCancelExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Stops new attempts and pending retries; running attempts finish.
     * </pre>
     */
    public dev.executor.v1.PauseExecutionResponse pauseExecution(dev.executor.v1.PauseExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getPauseExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Continues a paused execution where it stopped.
     * </pre>
     */
    public dev.executor.v1.ResumeExecutionResponse resumeExecution(dev.executor.v1.ResumeExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getResumeExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Status, progress, step results and usage of one execution.
     * </pre>
     */
    public dev.executor.v1.GetExecutionStatusResponse getExecutionStatus(dev.executor.v1.GetExecutionStatusRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetExecutionStatusMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Runs the compensations of completed steps in reverse dependency order.
     * </pre>
     */
    public dev.executor.v1.RollbackExecutionResponse rollbackExecution(dev.executor.v1.RollbackExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRollbackExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Replays the events after `after_sequence`, then follows live; the stream
     * ends after the execution's terminal event.
     * </pre>
     */
    public java.util.Iterator<dev.executor.v1.WatchExecutionResponse> watchExecution(
        dev.executor.v1.WatchExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The tools this server can run, with their JSON schemas.
     * </pre>
     */
    public dev.executor.v1.ListToolsResponse listTools(dev.executor.v1.ListToolsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListToolsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Executions the server knows, newest first, filtered and paged (AIP-158).
     * </pre>
     */
    public dev.executor.v1.ListExecutionsResponse listExecutions(dev.executor.v1.ListExecutionsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListExecutionsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Forgets a finished execution: its journal, results and workspace.
     * </pre>
     */
    public dev.executor.v1.DeleteExecutionResponse deleteExecution(dev.executor.v1.DeleteExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Decides an approval gate: APPROVE runs the step's tool (with edited
     * arguments when the gate allows it), REJECT fails the step with REJECTED.
     * Answers once the decision is journaled.
     * </pre>
     */
    public dev.executor.v1.ApproveStepResponse approveStep(dev.executor.v1.ApproveStepRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getApproveStepMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Delivers a named signal to the step that waits for it (kept until that
     * step starts waiting, when it arrives first).
     * </pre>
     */
    public dev.executor.v1.SignalExecutionResponse signalExecution(dev.executor.v1.SignalExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSignalExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The inbox: approval gates waiting for a decision, oldest first, paged
     * (AIP-158).
     * </pre>
     */
    public dev.executor.v1.ListApprovalsResponse listApprovals(dev.executor.v1.ListApprovalsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListApprovalsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Re-runs a FAILED or CANCELLED execution from where it failed (redrive): its
     * FAILED, CANCELLED and SKIPPED steps run again, COMPLETED steps keep their
     * outputs. Blocks until the execution ends unless `detach` is set.
     * </pre>
     */
    public dev.executor.v1.RetryExecutionResponse retryExecution(dev.executor.v1.RetryExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRetryExecutionMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ExecutorService.
   * <pre>
   * ExecutorService runs action plans and single steps, and controls running
   * executions. Failures of a plan are data (status FAILED plus an
   * ExecutionError); failures of a request are gRPC statuses carrying
   * google.rpc.ErrorInfo / BadRequest details.
   * </pre>
   */
  public static final class ExecutorServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<ExecutorServiceFutureStub> {
    private ExecutorServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutorServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutorServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Validates and runs a plan. Blocks until the execution ends unless
     * `detach` is set. Submitting the same plan id with the same content
     * attaches to the existing execution; different content is ALREADY_EXISTS.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ExecutePlanResponse> executePlan(
        dev.executor.v1.ExecutePlanRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getExecutePlanMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Runs one step outside any plan and returns its result.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ExecuteStepResponse> executeStep(
        dev.executor.v1.ExecuteStepRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getExecuteStepMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Cancels running attempts; pending steps become CANCELLED.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.CancelExecutionResponse> cancelExecution(
        dev.executor.v1.CancelExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCancelExecutionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Stops new attempts and pending retries; running attempts finish.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.PauseExecutionResponse> pauseExecution(
        dev.executor.v1.PauseExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getPauseExecutionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Continues a paused execution where it stopped.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ResumeExecutionResponse> resumeExecution(
        dev.executor.v1.ResumeExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getResumeExecutionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Status, progress, step results and usage of one execution.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.GetExecutionStatusResponse> getExecutionStatus(
        dev.executor.v1.GetExecutionStatusRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetExecutionStatusMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Runs the compensations of completed steps in reverse dependency order.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.RollbackExecutionResponse> rollbackExecution(
        dev.executor.v1.RollbackExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRollbackExecutionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * The tools this server can run, with their JSON schemas.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ListToolsResponse> listTools(
        dev.executor.v1.ListToolsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListToolsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Executions the server knows, newest first, filtered and paged (AIP-158).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ListExecutionsResponse> listExecutions(
        dev.executor.v1.ListExecutionsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListExecutionsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Forgets a finished execution: its journal, results and workspace.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.DeleteExecutionResponse> deleteExecution(
        dev.executor.v1.DeleteExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteExecutionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Decides an approval gate: APPROVE runs the step's tool (with edited
     * arguments when the gate allows it), REJECT fails the step with REJECTED.
     * Answers once the decision is journaled.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ApproveStepResponse> approveStep(
        dev.executor.v1.ApproveStepRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getApproveStepMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Delivers a named signal to the step that waits for it (kept until that
     * step starts waiting, when it arrives first).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.SignalExecutionResponse> signalExecution(
        dev.executor.v1.SignalExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSignalExecutionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * The inbox: approval gates waiting for a decision, oldest first, paged
     * (AIP-158).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.ListApprovalsResponse> listApprovals(
        dev.executor.v1.ListApprovalsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListApprovalsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Re-runs a FAILED or CANCELLED execution from where it failed (redrive): its
     * FAILED, CANCELLED and SKIPPED steps run again, COMPLETED steps keep their
     * outputs. Blocks until the execution ends unless `detach` is set.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.executor.v1.RetryExecutionResponse> retryExecution(
        dev.executor.v1.RetryExecutionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRetryExecutionMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_EXECUTE_PLAN = 0;
  private static final int METHODID_EXECUTE_STEP = 1;
  private static final int METHODID_CANCEL_EXECUTION = 2;
  private static final int METHODID_PAUSE_EXECUTION = 3;
  private static final int METHODID_RESUME_EXECUTION = 4;
  private static final int METHODID_GET_EXECUTION_STATUS = 5;
  private static final int METHODID_ROLLBACK_EXECUTION = 6;
  private static final int METHODID_WATCH_EXECUTION = 7;
  private static final int METHODID_LIST_TOOLS = 8;
  private static final int METHODID_LIST_EXECUTIONS = 9;
  private static final int METHODID_DELETE_EXECUTION = 10;
  private static final int METHODID_APPROVE_STEP = 11;
  private static final int METHODID_SIGNAL_EXECUTION = 12;
  private static final int METHODID_LIST_APPROVALS = 13;
  private static final int METHODID_RETRY_EXECUTION = 14;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_EXECUTE_PLAN:
          serviceImpl.executePlan((dev.executor.v1.ExecutePlanRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ExecutePlanResponse>) responseObserver);
          break;
        case METHODID_EXECUTE_STEP:
          serviceImpl.executeStep((dev.executor.v1.ExecuteStepRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ExecuteStepResponse>) responseObserver);
          break;
        case METHODID_CANCEL_EXECUTION:
          serviceImpl.cancelExecution((dev.executor.v1.CancelExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.CancelExecutionResponse>) responseObserver);
          break;
        case METHODID_PAUSE_EXECUTION:
          serviceImpl.pauseExecution((dev.executor.v1.PauseExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.PauseExecutionResponse>) responseObserver);
          break;
        case METHODID_RESUME_EXECUTION:
          serviceImpl.resumeExecution((dev.executor.v1.ResumeExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ResumeExecutionResponse>) responseObserver);
          break;
        case METHODID_GET_EXECUTION_STATUS:
          serviceImpl.getExecutionStatus((dev.executor.v1.GetExecutionStatusRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.GetExecutionStatusResponse>) responseObserver);
          break;
        case METHODID_ROLLBACK_EXECUTION:
          serviceImpl.rollbackExecution((dev.executor.v1.RollbackExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.RollbackExecutionResponse>) responseObserver);
          break;
        case METHODID_WATCH_EXECUTION:
          serviceImpl.watchExecution((dev.executor.v1.WatchExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.WatchExecutionResponse>) responseObserver);
          break;
        case METHODID_LIST_TOOLS:
          serviceImpl.listTools((dev.executor.v1.ListToolsRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ListToolsResponse>) responseObserver);
          break;
        case METHODID_LIST_EXECUTIONS:
          serviceImpl.listExecutions((dev.executor.v1.ListExecutionsRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ListExecutionsResponse>) responseObserver);
          break;
        case METHODID_DELETE_EXECUTION:
          serviceImpl.deleteExecution((dev.executor.v1.DeleteExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.DeleteExecutionResponse>) responseObserver);
          break;
        case METHODID_APPROVE_STEP:
          serviceImpl.approveStep((dev.executor.v1.ApproveStepRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ApproveStepResponse>) responseObserver);
          break;
        case METHODID_SIGNAL_EXECUTION:
          serviceImpl.signalExecution((dev.executor.v1.SignalExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.SignalExecutionResponse>) responseObserver);
          break;
        case METHODID_LIST_APPROVALS:
          serviceImpl.listApprovals((dev.executor.v1.ListApprovalsRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.ListApprovalsResponse>) responseObserver);
          break;
        case METHODID_RETRY_EXECUTION:
          serviceImpl.retryExecution((dev.executor.v1.RetryExecutionRequest) request,
              (io.grpc.stub.StreamObserver<dev.executor.v1.RetryExecutionResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getExecutePlanMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ExecutePlanRequest,
              dev.executor.v1.ExecutePlanResponse>(
                service, METHODID_EXECUTE_PLAN)))
        .addMethod(
          getExecuteStepMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ExecuteStepRequest,
              dev.executor.v1.ExecuteStepResponse>(
                service, METHODID_EXECUTE_STEP)))
        .addMethod(
          getCancelExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.CancelExecutionRequest,
              dev.executor.v1.CancelExecutionResponse>(
                service, METHODID_CANCEL_EXECUTION)))
        .addMethod(
          getPauseExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.PauseExecutionRequest,
              dev.executor.v1.PauseExecutionResponse>(
                service, METHODID_PAUSE_EXECUTION)))
        .addMethod(
          getResumeExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ResumeExecutionRequest,
              dev.executor.v1.ResumeExecutionResponse>(
                service, METHODID_RESUME_EXECUTION)))
        .addMethod(
          getGetExecutionStatusMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.GetExecutionStatusRequest,
              dev.executor.v1.GetExecutionStatusResponse>(
                service, METHODID_GET_EXECUTION_STATUS)))
        .addMethod(
          getRollbackExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.RollbackExecutionRequest,
              dev.executor.v1.RollbackExecutionResponse>(
                service, METHODID_ROLLBACK_EXECUTION)))
        .addMethod(
          getWatchExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              dev.executor.v1.WatchExecutionRequest,
              dev.executor.v1.WatchExecutionResponse>(
                service, METHODID_WATCH_EXECUTION)))
        .addMethod(
          getListToolsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ListToolsRequest,
              dev.executor.v1.ListToolsResponse>(
                service, METHODID_LIST_TOOLS)))
        .addMethod(
          getListExecutionsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ListExecutionsRequest,
              dev.executor.v1.ListExecutionsResponse>(
                service, METHODID_LIST_EXECUTIONS)))
        .addMethod(
          getDeleteExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.DeleteExecutionRequest,
              dev.executor.v1.DeleteExecutionResponse>(
                service, METHODID_DELETE_EXECUTION)))
        .addMethod(
          getApproveStepMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ApproveStepRequest,
              dev.executor.v1.ApproveStepResponse>(
                service, METHODID_APPROVE_STEP)))
        .addMethod(
          getSignalExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.SignalExecutionRequest,
              dev.executor.v1.SignalExecutionResponse>(
                service, METHODID_SIGNAL_EXECUTION)))
        .addMethod(
          getListApprovalsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.ListApprovalsRequest,
              dev.executor.v1.ListApprovalsResponse>(
                service, METHODID_LIST_APPROVALS)))
        .addMethod(
          getRetryExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.executor.v1.RetryExecutionRequest,
              dev.executor.v1.RetryExecutionResponse>(
                service, METHODID_RETRY_EXECUTION)))
        .build();
  }

  private static abstract class ExecutorServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ExecutorServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.executor.v1.Executor.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ExecutorService");
    }
  }

  private static final class ExecutorServiceFileDescriptorSupplier
      extends ExecutorServiceBaseDescriptorSupplier {
    ExecutorServiceFileDescriptorSupplier() {}
  }

  private static final class ExecutorServiceMethodDescriptorSupplier
      extends ExecutorServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ExecutorServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ExecutorServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ExecutorServiceFileDescriptorSupplier())
              .addMethod(getExecutePlanMethod())
              .addMethod(getExecuteStepMethod())
              .addMethod(getCancelExecutionMethod())
              .addMethod(getPauseExecutionMethod())
              .addMethod(getResumeExecutionMethod())
              .addMethod(getGetExecutionStatusMethod())
              .addMethod(getRollbackExecutionMethod())
              .addMethod(getWatchExecutionMethod())
              .addMethod(getListToolsMethod())
              .addMethod(getListExecutionsMethod())
              .addMethod(getDeleteExecutionMethod())
              .addMethod(getApproveStepMethod())
              .addMethod(getSignalExecutionMethod())
              .addMethod(getListApprovalsMethod())
              .addMethod(getRetryExecutionMethod())
              .build();
        }
      }
    }
    return result;
  }
}
