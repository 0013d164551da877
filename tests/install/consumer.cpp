// The C++ wrapper from an installed nnkern (built by tests/install.rs with CMake).
#include <nnkern.hpp>

#include <cstdio>
#include <vector>

int main() {
    nnk::initialize();
    std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f}, y(4);
    nnk::Softmax<float> op;
    op.reshape(4, 4, 4, 1);
    op.setup(x.data(), y.data());
    op.run();
    std::printf("nnkern %s: softmax [1 2 3 4] = %.6f %.6f %.6f %.6f (%s)\n", nnk::version(), y[0], y[1], y[2], y[3],
                op.kernel_name());
    return 0;
}
