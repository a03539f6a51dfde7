// SPDX-License-Identifier: Apache-2.0
#pragma once

/// The whole public API but the providers: include this, plus `<sbx/providers/NAME.hpp>`
/// for each provider you use, plus `<sbx/any.hpp>` for run-time choice.
#include <sbx/capabilities.hpp>
#include <sbx/client.hpp>
#include <sbx/duration.hpp>
#include <sbx/error.hpp>
#include <sbx/exec.hpp>
#include <sbx/files.hpp>
#include <sbx/info.hpp>
#include <sbx/memory.hpp>
#include <sbx/provider.hpp>
#include <sbx/request.hpp>
#include <sbx/result.hpp>
#include <sbx/sandbox.hpp>
#include <sbx/shell.hpp>
