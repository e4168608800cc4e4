"""The Elman RNN (`nn.RNN`, tanh) with its recurrence fused on the CPU.

PyTorch has no fused Elman kernel on the CPU: `nn.RNN` runs each step as a handful of calls, each
recorded by autograd, and with the tutorial's 100 hidden units per-call overhead costs more than the
arithmetic. `ElmanRNN` computes the same sums, h_t = tanh(x_t W_ih' + b_ih + b_hh + h_(t-1) W_hh'),
with every step's input term in one matrix product, then per step one `addmm` and one `tanh` in
place, and a backward pass written out by hand (two or three calls a step, the weights' gradients in one
product each). Parameters, their names and the returned values are `nn.RNN`'s, so checkpoints and
the Keras initialisation are unchanged. Unlike `nn.RNN`'s, its gradient is once-differentiable (no
double backward, no `torch.func` transforms). Any case it does not cover goes to `nn.RNN` itself:
another device than the CPU, half precision or autocast, packed or unbatched input, ReLU,
bidirectional, no biases, and tracing or compiling (which would unroll the loop for one length).
"""

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence


class ElmanRecurrence(torch.autograd.Function):
    """outputs (steps, batch, hidden) of h_t = tanh(inputs_t + h_(t-1) W_hh'), from `inputs`
    (steps, batch, hidden: the input term with both biases) and `h0` (batch, hidden). Backward once
    only; it keeps the outputs it returns, so changing them in place is an error."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
        outputs = torch.empty_like(inputs)
        h, recurrent = h0, w_hh.t()
        for step_input, step_output in zip(inputs.unbind(0), outputs.unbind(0)):
            h = torch.addmm(step_input, h, recurrent, out=step_output).tanh_()
        ctx.save_for_backward(outputs, h0, w_hh)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs: torch.Tensor):
        outputs, h0, w_hh = ctx.saved_tensors
        slopes = 1 - outputs.square()  # tanh' at each step
        grads = torch.empty_like(outputs)  # the loss's gradient with respect to each step's sum
        carried = torch.zeros_like(h0)  # what step t+1's sum passes back to h_t
        read = grad_outputs.flatten(1).any(1).tolist()  # the steps whose outputs the loss reads
        for step_read, grad_output, grad, slope in reversed(list(zip(
                read, grad_outputs.unbind(0), grads.unbind(0), slopes.unbind(0)))):
            if step_read:
                torch.add(grad_output, carried, out=grad).mul_(slope)
            else:  # `last` pooling reads one step: the others only pass the carried gradient on
                torch.mul(carried, slope, out=grad)
            torch.mm(grad, w_hh, out=carried)
        grad_w_hh = torch.addmm(grads[0].t() @ h0, grads[1:].flatten(0, 1).t(), outputs[:-1].flatten(0, 1))
        return grads, carried, grad_w_hh


class ElmanRNN(nn.RNN):
    """`nn.RNN` with its recurrence fused on the CPU (see the module's docstring); same arguments,
    parameters and outputs: (output, h_n)."""

    def uses_fused_path(self, input) -> bool:
        """Whether `input` takes the fused path (see the module's docstring for what does not)."""
        return (not isinstance(input, PackedSequence) and input.dim() == 3 and input.device.type == "cpu"
                and input.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled("cpu")
                and self.nonlinearity == "tanh" and not self.bidirectional and self.bias
                and not torch.jit.is_tracing() and not torch.compiler.is_compiling())

    def forward(self, input, hx=None):
        """`input` (batch, steps, features) with `batch_first`, else (steps, batch, features); `hx`
        (num_layers, batch, hidden) or None for zeros. Returns (output, h_n) as `nn.RNN` does."""
        if not self.uses_fused_path(input):
            return super().forward(input, hx)
        if hx is None:
            self.check_input(input, None)
        else:
            self.check_forward_args(input, hx, None)
        x = input.transpose(0, 1) if self.batch_first else input  # (steps, batch, features)
        finals = []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = (getattr(self, f"{name}_l{layer}")
                                      for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            h0 = x.new_zeros(x.shape[1], self.hidden_size) if hx is None else hx[layer]
            x = ElmanRecurrence.apply(F.linear(x, w_ih, b_ih + b_hh).contiguous(), h0, w_hh)
            finals.append(x[-1])
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        return (x.transpose(0, 1) if self.batch_first else x), torch.stack(finals)
