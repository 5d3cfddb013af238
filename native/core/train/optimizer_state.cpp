#include "train/optimizer_state.h"

#include <ATen/ATen.h>

#include <map>
#include <string>

namespace itl {

void save_optimizer_state(const torch::optim::AdamW& optimizer, torch::serialize::OutputArchive& archive) {
  using torch::serialize::OutputArchive;
  const auto& groups = optimizer.param_groups();
  std::map<const void*, std::string> keys;
  int64_t next = 0;
  for (const auto& group : groups) {
    for (const at::Tensor& param : group.params()) keys.emplace(param.unsafeGetTensorImpl(), std::to_string(++next));
  }
  archive.write("pytorch_version", c10::IValue("1.5.0"));  // what libtorch's loader asserts

  OutputArchive state(archive.compilation_unit());
  for (const auto& group : groups) {
    for (const at::Tensor& param : group.params()) {
      const auto found = optimizer.state().find(param.unsafeGetTensorImpl());
      if (found == optimizer.state().end()) continue;  // no step taken for it yet
      OutputArchive param_state(state.compilation_unit());
      static_cast<const torch::optim::AdamWParamState&>(*found->second).serialize(param_state);
      state.write(keys.at(param.unsafeGetTensorImpl()), param_state);
    }
  }
  archive.write("state", state);

  OutputArchive group_list(archive.compilation_unit());
  group_list.write("param_groups/size", at::tensor(static_cast<int64_t>(groups.size())));
  for (size_t i = 0; i < groups.size(); ++i) {
    OutputArchive group(group_list.compilation_unit());
    const std::vector<at::Tensor>& params = groups[i].params();
    group.write("params/size", at::tensor(static_cast<int64_t>(params.size())));
    for (size_t index = 0; index < params.size(); ++index) {
      group.write("params/" + std::to_string(index), c10::IValue(keys.at(params[index].unsafeGetTensorImpl())));
    }
    OutputArchive options(group.compilation_unit());
    static_cast<const torch::optim::AdamWOptions&>(groups[i].options()).serialize(options);
    group.write("options", options);
    group_list.write("param_groups/" + std::to_string(i), group);
  }
  archive.write("param_groups", group_list);
}

}  // namespace itl
