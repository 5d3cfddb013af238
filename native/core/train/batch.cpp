#include "train/batch.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <typeinfo>

#include "util/error.h"

namespace itl {

int64_t TokenRows::label_count(int64_t row) const {
  int64_t n = 0;
  for (int64_t i = offsets[row] + 1; i < offsets[row + 1]; ++i) n += labels[i] != kIgnoreIndex;
  return n;
}

void TokenRows::validate(int64_t vocab_size, const char* what) const {
  require(!offsets.empty() && offsets.front() == 0 && offsets.back() == static_cast<int64_t>(ids.size()) && ids.size() == labels.size(),
          std::string(what) + ": ids, labels and offsets disagree");
  for (int64_t r = 0; r < count(); ++r) {
    const std::string row = std::string(what) + " row " + std::to_string(r);
    require(offsets[r + 1] >= offsets[r] + 2, row + " has fewer than 2 tokens");
    for (int64_t i = offsets[r]; i < offsets[r + 1]; ++i) {
      require(ids[i] >= 0 && ids[i] < vocab_size,
              row + ": token id " + std::to_string(ids[i]) + " is outside the vocabulary of " + std::to_string(vocab_size));
      require(labels[i] == kIgnoreIndex || (labels[i] >= 0 && labels[i] < vocab_size),
              row + ": label " + std::to_string(labels[i]) + " is neither -100 nor a token id");
    }
    require(label_count(r) > 0, row + " has no label token: nothing to learn from");
  }
}

MicroBatch make_micro_batch(const TokenRows& data, const std::vector<int64_t>& rows, int64_t pad_id, const at::Device& device) {
  require(!rows.empty(), "a micro-batch needs at least one row");
  const int64_t b = static_cast<int64_t>(rows.size());
  int64_t T = 0;
  for (int64_t r : rows) T = std::max(T, data.length(r));
  at::Tensor ids = at::full({b, T}, pad_id, at::kLong);
  at::Tensor mask = at::zeros({b, T}, at::kLong);
  at::Tensor positions = at::zeros({b, T}, at::kLong);
  std::vector<int64_t> label_index, targets;
  auto* ids_p = ids.data_ptr<int64_t>();
  auto* mask_p = mask.data_ptr<int64_t>();
  auto* pos_p = positions.data_ptr<int64_t>();
  MicroBatch batch;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t start = data.offsets[rows[i]], n = data.length(rows[i]);
    for (int64_t t = 0; t < n; ++t) {
      ids_p[i * T + t] = data.ids[start + t];
      mask_p[i * T + t] = 1;
      pos_p[i * T + t] = t;
      // Position t-1 predicts token t: the labelled ones enter the loss.
      if (t >= 1 && data.labels[start + t] != kIgnoreIndex) {
        label_index.push_back(i * (T - 1) + (t - 1));
        targets.push_back(data.labels[start + t]);
      }
    }
    batch.real_tokens += n;
  }
  batch.padded_tokens = b * T;
  batch.ids = ids.to(device);
  batch.mask = mask.to(device);
  batch.positions = positions.to(device);
  batch.label_index = at::tensor(label_index, at::kLong).to(device);
  batch.targets = at::tensor(targets, at::kLong).to(device);
  return batch;
}

MicroBatch make_packed_micro_batch(const TokenRows& data, const std::vector<int64_t>& rows, const at::Device& device) {
  require(!rows.empty(), "a micro-batch needs at least one row");
  std::vector<int64_t> lengths, ids, positions, label_index, targets;
  for (int64_t r : rows) {
    const int64_t start = data.offsets[r], n = data.length(r), flat = static_cast<int64_t>(ids.size());
    lengths.push_back(n);
    for (int64_t t = 0; t < n; ++t) {
      ids.push_back(data.ids[start + t]);
      positions.push_back(t);
      // Token t-1 of the row predicts token t: the labelled ones enter the loss.
      if (t >= 1 && data.labels[start + t] != kIgnoreIndex) {
        label_index.push_back(flat + t - 1);
        targets.push_back(data.labels[start + t]);
      }
    }
  }
  MicroBatch batch;
  batch.ids = at::tensor(ids, at::kLong).to(device);
  batch.positions = at::tensor(positions, at::kLong).to(device);
  batch.packed = std::make_shared<const PackedLayout>(PackedLayout::rows(lengths, device));
  batch.label_index = at::tensor(label_index, at::kLong).to(device);
  batch.targets = at::tensor(targets, at::kLong).to(device);
  batch.real_tokens = static_cast<int64_t>(ids.size());
  batch.padded_tokens = batch.real_tokens;
  return batch;
}

std::vector<std::vector<int64_t>> group_by_length(const TokenRows& data, std::vector<int64_t> rows, int64_t batch) {
  require(batch > 0, "batch must be positive");
  std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) { return data.length(a) > data.length(b); });
  std::vector<std::vector<int64_t>> groups;
  for (size_t i = 0; i < rows.size(); i += static_cast<size_t>(batch)) {
    groups.emplace_back(rows.begin() + i, rows.begin() + std::min(rows.size(), i + static_cast<size_t>(batch)));
  }
  return groups;
}

at::Tensor label_loss_sum(LlamaModel& model, const MicroBatch& batch, const LossChunking& chunking) {
  at::Tensor predicting;  // (n, H): the hidden states of the positions that predict a label
  if (batch.packed) {
    predicting = model.packed_hidden_states(batch.ids, batch.positions, *batch.packed).index_select(0, batch.label_index);
  } else {
    const int64_t b = batch.ids.size(0), T = batch.ids.size(1);
    const at::Tensor hidden = model.hidden_states(batch.ids, batch.mask, batch.positions);  // (b, T, H)
    predicting = hidden.narrow(1, 0, T - 1).reshape({b * (T - 1), hidden.size(2)}).index_select(0, batch.label_index);
  }
  const bool plain_head = !model.lm_head || typeid(*model.lm_head) == typeid(Linear);
  if (plain_head) {
    return chunked_cross_entropy_sum(predicting, model.lm_head ? model.lm_head->weight : model.model->embed_tokens->weight, batch.targets,
                                     chunking);
  }
  // transformers upcasts the logits to fp32 before the loss; so do we.
  const at::Tensor raw = model.logits(predicting);  // (n, V)
  const at::Tensor logits = raw.to(at::promote_types(raw.scalar_type(), at::kFloat));
  return at::cross_entropy_loss(logits, batch.targets, {}, at::Reduction::Sum, kIgnoreIndex);
}

}  // namespace itl
