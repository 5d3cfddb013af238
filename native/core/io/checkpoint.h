// The weights of a Hugging Face model folder: `model.safetensors`, or `model.safetensors.index.json`
// naming shards. Reading maps every shard; writing shards above a size threshold, as
// transformers' save_pretrained does (index with metadata.total_size and weight_map).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace itl {

class CheckpointReader {
 public:
  // Opens FOLDER's weights; Error(kIo) when neither file exists, Error(kCheckpointFormat) when the
  // index is malformed, names a missing shard, or two shards define one tensor.
  static CheckpointReader open(const std::string& folder);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // Error naming the tensor when absent
  at::Tensor tensor(const std::string& name) const;       // zero-copy view, see SafeTensorsFile
  const std::string& folder() const { return folder_; }

 private:
  std::string folder_;
  std::vector<std::shared_ptr<SafeTensorsFile>> shards_;
  std::vector<std::pair<std::string, size_t>> index_;  // name -> shard, sorted by name
};

// Writes named tensors into FOLDER as model.safetensors, or as model-0000i-of-0000n.safetensors
// plus model.safetensors.index.json when their total size exceeds max_shard_bytes. Shards are cut
// in the given order as huggingface_hub's split_state_dict_into_shards does (its default limit is
// "5GB" = 5e9 bytes); a previous save's files that would contradict the new one are removed.
void write_checkpoint(const std::string& folder, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      uint64_t max_shard_bytes = 5'000'000'000ull);

// Resolves a model name or path to a folder holding config.json: an existing folder as is (a cache
// repo folder models--ORG--NAME resolves to its snapshot); ORG/NAME under $ITL_MODELS; the snapshot
// of models--ORG--NAME in the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub) that refs/main names, else the newest one. Error(kIo) listing where it looked.
std::string resolve_model_folder(const std::string& name_or_path);

}  // namespace itl
