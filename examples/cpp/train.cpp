// A fake training loop in C++17 that reports to sweepkit through the line protocol (docs/line-protocol.md).
//   ./build.sh && ./train --lr=0.01 --epochs=10     by hand: prints the metrics
//   sweepkit run sweep.yaml                          in a sweep: appends them to $SWEEPKIT_CHANNEL
// The sweep passes the trial's params as --key=value arguments (`${args}` in sweep.yaml).
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace {

volatile std::sig_atomic_t terminated = 0;

void on_sigterm(int) { terminated = 1; }  // the runner is stopping the trial: finish the step and leave

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

// JSON has no NaN or infinity: the protocol writes them as the strings "nan", "inf", "-inf".
std::string json_number(double value) {
    if (std::isnan(value)) return "\"nan\"";
    if (std::isinf(value)) return value > 0 ? "\"inf\"" : "\"-inf\"";
    std::ostringstream out;
    out.precision(17);
    out << value;
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args = {
        {"lr", "0.01"}, {"epochs", "10"}, {"dropout", "0.1"}, {"epoch_seconds", "0.5"}};
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto eq = arg.find('=');
        if (arg.rfind("--", 0) != 0 || eq == std::string::npos || !args.count(arg.substr(2, eq - 2))) {
            std::cerr << "train: unknown argument " << arg << "\n";
            return 2;
        }
        args[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
    }
    const double lr = std::stod(args["lr"]);
    const double dropout = std::stod(args["dropout"]);
    const int epochs = std::stoi(args["epochs"]);
    const auto epoch_time = std::chrono::duration<double>(std::stod(args["epoch_seconds"]));

    std::signal(SIGTERM, on_sigterm);
    const std::string channel_path = env("SWEEPKIT_CHANNEL");
    const std::string stop_file = env("SWEEPKIT_STOP_FILE");
    std::ofstream channel;
    if (!channel_path.empty()) {
        channel.open(channel_path, std::ios::app);  // O_APPEND: every line lands at the end of the file
        if (!channel) {
            std::cerr << "train: cannot open " << channel_path << "\n";
            return 1;
        }
        channel << "{\"event\": \"stop_check\"}\n" << std::flush;  // it checks the stop file: the runner waits for it
    }

    for (int epoch = 0; epoch < epochs; ++epoch) {
        if (terminated) return 143;
        if (!stop_file.empty() && std::filesystem::exists(stop_file)) {
            std::cout << "train: stopped by the sweep after " << epoch << " epochs" << std::endl;
            return 0;
        }
        std::this_thread::sleep_for(epoch_time);  // stands in for an epoch's real work
        const double x = std::log(lr / 0.03);
        const double val_loss = 0.2 + 0.1 * x * x + 0.3 * dropout * dropout + 1.0 / (epoch + 1);
        if (channel.is_open()) {
            // Build the whole line first, then one << and a flush: one write() per line, so lines never mix.
            std::string line =
                "{\"step\": " + std::to_string(epoch) + ", \"val_loss\": " + json_number(val_loss) + "}\n";
            channel << line << std::flush;
        } else {
            std::cout << "step " << epoch << ": val_loss=" << val_loss << std::endl;
        }
    }
    return terminated ? 143 : 0;
}
