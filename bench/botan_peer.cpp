// Botan's EAX (Debian libbotan-2-dev) as a benchmark peer, speaking the protocol of
// bench/pipe-peer.ts: a request line, the input bytes; a JSON reply line, the output bytes.
// Built by bench/botan.ts with g++; each run is timed here, so start-up and the pipe are excluded.
#include <botan/aead.h>
#include <botan/exceptn.h>
#include <botan/hex.h>
#include <chrono>
#include <iostream>
#include <sstream>

static std::vector<uint8_t> unhex(const std::string& s) { return s == "-" ? std::vector<uint8_t>() : Botan::hex_decode(s); }

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string op, key, nonce, header, tag;
    size_t length = 0, min_iterations = 0;
    double time_ms = 0;
    in >> op >> key >> nonce >> header >> tag >> length >> time_ms >> min_iterations;
    std::vector<uint8_t> input(length);
    std::cin.read(reinterpret_cast<char*>(input.data()), length);
    const auto k = unhex(key), n = unhex(nonce), h = unhex(header), t = unhex(tag);
    const bool encrypting = op == "encrypt";
    auto mode = Botan::AEAD_Mode::create_or_throw("AES-" + std::to_string(k.size() * 8) + "/EAX", encrypting ? Botan::ENCRYPTION : Botan::DECRYPTION);
    mode->set_key(k);
    Botan::secure_vector<uint8_t> out;
    auto run = [&] {
      mode->reset();  // a refused tag leaves the mode mid-message
      out.assign(input.begin(), input.end());
      if (!encrypting) out.insert(out.end(), t.begin(), t.end());
      mode->set_associated_data(h.data(), h.size());
      mode->start(n);
      mode->finish(out);  // appends the tag, or checks and removes it
    };
    try {
      run();
    } catch (const Botan::Invalid_Authentication_Tag&) {
      std::cout << "{\"ok\":false,\"error\":\"tag does not verify\"}\n" << std::flush;
      continue;
    }
    std::ostringstream samples;
    const auto started = std::chrono::steady_clock::now();
    size_t count = 0;
    while (count < min_iterations || std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count() < time_ms) {
      const auto t0 = std::chrono::steady_clock::now();
      run();
      samples << (count++ ? "," : "") << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    std::cout << "{\"ok\":true,\"samples\":[" << samples.str() << "],\"length\":" << out.size() << "}\n";
    std::cout.write(reinterpret_cast<const char*>(out.data()), out.size());
    std::cout.flush();
  }
}
