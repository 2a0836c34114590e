package dev.executor.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The google.rpc.Status details of a failed call: the Executor attaches an {@link ErrorInfo}
 * (a stable {@code reason}) to every error, a {@link BadRequest} with field violations to
 * INVALID_ARGUMENT, and RetryInfo or PreconditionFailure where they apply.
 */
public final class StatusDetails {
  private StatusDetails() {}

  /** Every detail of type {@code type} in the status of {@code error} (a failed call). */
  public static <T extends Message> List<T> all(Throwable error, Class<T> type) {
    com.google.rpc.Status status = StatusProto.fromThrowable(error);
    List<T> found = new ArrayList<>();
    if (status == null) {
      return found;
    }
    for (Any detail : status.getDetailsList()) {
      if (detail.is(type)) {
        try {
          found.add(detail.unpack(type));
        } catch (InvalidProtocolBufferException e) {
          // A detail that claims the type but does not parse is skipped, like an unknown one.
        }
      }
    }
    return found;
  }

  /** The field violations of an INVALID_ARGUMENT error; empty for any other error. */
  public static List<BadRequest.FieldViolation> fieldViolations(Throwable error) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    for (BadRequest badRequest : all(error, BadRequest.class)) {
      violations.addAll(badRequest.getFieldViolationsList());
    }
    return violations;
  }

  /** The error's ErrorInfo, if it has one. */
  public static Optional<ErrorInfo> errorInfo(Throwable error) {
    return all(error, ErrorInfo.class).stream().findFirst();
  }
}
