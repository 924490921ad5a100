#include "js_tensor.h"

#include <stdexcept>

namespace swiftlet_common {

TensorView readTensor(const Napi::Value& value) {
  if (!value.IsObject()) throw std::invalid_argument("the tensor must be an object { format, shape, buffers }");
  const Napi::Object object = value.As<Napi::Object>();
  TensorView view;
  const Napi::Value format = object.Get("format");
  if (!format.IsString()) throw std::invalid_argument("tensor.format must be a string");
  view.format = format.As<Napi::String>().Utf8Value();
  const Napi::Value shape = object.Get("shape");
  if (!shape.IsArray()) throw std::invalid_argument("tensor.shape must be an array");
  const Napi::Array dims = shape.As<Napi::Array>();
  for (uint32_t i = 0; i < dims.Length(); i++) {
    const Napi::Value d = dims.Get(i);
    if (!d.IsNumber()) throw std::invalid_argument("tensor.shape must hold numbers");
    view.shape.push_back(d.As<Napi::Number>().Int64Value());
  }
  const Napi::Value buffers = object.Get("buffers");
  if (!buffers.IsObject()) throw std::invalid_argument("tensor.buffers must be an object");
  const Napi::Object named = buffers.As<Napi::Object>();
  const Napi::Array names = named.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    const Napi::Value bytes = named.Get(name);
    if (!bytes.IsTypedArray() || bytes.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw std::invalid_argument("tensor.buffers." + name + " must be a Uint8Array");
    }
    const auto array = bytes.As<Napi::Uint8Array>();
    view.buffers[name] = {array.Data(), array.ByteLength()};
  }
  const Napi::Value params = object.Get("params");
  if (params.IsObject()) {
    const Napi::Object values = params.As<Napi::Object>();
    const Napi::Array keys = values.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
      const Napi::Value v = values.Get(key);
      if (!v.IsNumber()) throw std::invalid_argument("tensor.params." + key + " must be a number");
      view.params[key] = v.As<Napi::Number>().DoubleValue();
    }
  } else if (!params.IsUndefined()) {
    throw std::invalid_argument("tensor.params must be an object");
  }
  return view;
}

}  // namespace swiftlet_common
