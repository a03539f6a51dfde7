// SPDX-License-Identifier: Apache-2.0
// The yardstick: a TU with the standard headers a small program includes anyway.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

std::string hello(std::vector<std::string> const& v) {
  auto p = std::make_unique<std::string>(v.empty() ? "" : v.front());
  std::this_thread::sleep_for(std::chrono::milliseconds(0));
  std::cout << *p;
  return *p;
}
