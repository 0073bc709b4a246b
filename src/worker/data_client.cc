#include "worker/data_client.h"

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/rpc/grpc_util.h"
#include "common/status.h"
#include "graph/rpc/wire.h"
#include "worker.grpc.pb.h"

namespace tessera::worker {

std::shared_ptr<grpc::Channel> DataClient::ChannelFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& channel = channels_[address];
  if (channel == nullptr) channel = rpc::BuildChannel(address);
  return channel;
}

absl::StatusOr<ChunkBuffer> DataClient::Fetch(const std::string& address, const std::string& key,
                                              double timeout_seconds) {
  auto stub = v1::WorkerData::NewStub(ChannelFor(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  v1::GetDataRequest req;
  req.set_key(key);
  auto reader = stub->GetData(&ctx, req);
  v1::DataPiece piece;
  ChunkBuffer out;
  bool first = true;
  int64_t received = 0;
  while (reader->Read(&piece)) {
    if (first) {
      TESSERA_ASSIGN_OR_RETURN(out.dtype, wire::DTypeFromProto(piece.dtype()));
      out.shape.assign(piece.shape().begin(), piece.shape().end());
      TESSERA_RETURN_IF_ERROR(ValidateShape(out.shape, out.dtype));
      const int64_t expected = NumElements(out.shape) * ItemSize(out.dtype);
      if (piece.total_bytes() != expected) {
        return absl::DataLossError(absl::StrCat("GetData ", key, " from ", address, ": ",
                                                piece.total_bytes(), " bytes announced, ",
                                                expected, " expected"));
      }
      ResizeZeroed(out.bytes, static_cast<size_t>(expected));
      out.encoded_value = piece.encoded_value();
      first = false;
    }
    const int64_t n = static_cast<int64_t>(piece.data().size());
    if (piece.offset() != received || received + n > static_cast<int64_t>(out.bytes.size())) {
      return absl::DataLossError(absl::StrCat("GetData ", key, " from ", address,
                                              ": piece at offset ", piece.offset(),
                                              " out of order or too long"));
    }
    std::memcpy(out.bytes.data() + received, piece.data().data(), static_cast<size_t>(n));
    received += n;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return absl::Status(rpc::FromGrpc(status).code(),
                        absl::StrCat("fetching ", key, " from tcp://", address, ": ",
                                     status.error_message()));
  }
  if (first || received != static_cast<int64_t>(out.bytes.size())) {
    return absl::DataLossError(
        absl::StrCat("GetData ", key, " from ", address, ": stream ended early"));
  }
  return out;
}

}  // namespace tessera::worker
