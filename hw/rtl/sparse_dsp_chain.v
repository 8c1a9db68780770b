// sparse_dsp_chain: configurable sparse DSP chain (FlightLLM CSD-Chain, spec fpga_sparse_dsp.md sec. 3-4).
//
// Structure: CHAIN packed DSP slices (sparse_dsp_slice) in CHAIN/2 DSP groups (sparse_dsp_group) of 2,
// hard-cascaded; a Reduction Node (RN) after every DG passes the cascade on or cuts it (emits the finished
// sum; the next DG starts from zero). Each slice holds one INT8 weight of the pass and makes two INT8
// MACs with it (token lanes A and B) on the activations its sparse MUX selects by the weight's log2(M)-bit
// index from the M candidates of its K block. Under N:M (N < M) a sub-chain of N slices covers the N
// stored weights of one M-element block of one output row, so with the RNs after every N slices cutting
// the chain emits CHAIN/N block results per pass; dense (N == M) the whole chain accumulates CHAIN
// consecutive K elements of one row (cuts only where the output row changes inside a pass).
// Lanes are exact (ACCW = 16 + clog2(CHAIN) bits, INT8 -128..127 both operands): no OAU is needed.
//
// Candidate blocks: slices are grouped by SUB = min(N, CHAIN); slice j uses block j / SUB of s_act_*
// (NSEG = CHAIN / SUB blocks per pass). Requires CHAIN % N == 0 or N % CHAIN == 0.
//
// Protocol (valid/ready, one beat = one pass; synchronous active-high reset):
//   input  beat (s_valid & s_ready at a rising edge):
//     s_w    [8*j +: 8]           signed INT8 weight of slice j (0 for idle/padding slices)
//     s_idx  [IDXW*j +: IDXW]     index of slice j's activation in its candidate block
//     s_cut  [g]                  RN after DG g cuts (g < CHAIN/2 - 1); the last RN always emits (bit ignored)
//     s_act_a/s_act_b [8*(M*s + i) +: 8]   signed INT8 candidate i of block s, token lane A / B
//   output beat (m_valid & m_ready), one per input beat, in order:
//     m_emit [g]                  DG g's RN emitted a finished sum for this pass (cut, or g = last)
//     m_sum_a/m_sum_b [ACCW*g +: ACCW]  signed sum emitted by DG g (0 where m_emit[g] = 0)
//   s_ready = !rst && (!m_valid || m_ready): the whole pipeline advances together or stalls together.
//
// Latency / throughput: one pass per cycle; pass p occupies slice j in cycle p + j (input skew of j
// registers in front of slice j, one P register per slice). A pass accepted at rising edge t is on
// m_* (m_valid = 1) after edge t + CHAIN - 1 and can be taken at edge t + CHAIN. A tile of P passes
// streamed back to back without back-pressure therefore takes P + CHAIN - 1 cycles from the edge that
// accepts its first pass to the edge that takes its last result = kernels_ref.sparse.chain_cycles
// = archsim.sim.units.sparse_chain.cycles.
module sparse_dsp_chain #(
    parameter CHAIN = 32,  // chain length in DSP slices (even, >= 4); 32 = the FPGA presets' fpga.chain_dsps
    parameter N     = 4,   // nonzeros kept per M-element block (even, <= M; N == M: dense)
    parameter M     = 16   // block size / sparse MUX fan-in (power of two)
) (
    input  wire                               clk,
    input  wire                               rst,
    // input stream: one pass per beat
    input  wire                               s_valid,
    output wire                               s_ready,
    input  wire [CHAIN*8-1:0]                 s_w,
    input  wire [CHAIN*$clog2(M)-1:0]        s_idx,
    input  wire [CHAIN/2-1:0]                 s_cut,
    input  wire [((CHAIN >= N) ? CHAIN / N : 1)*M*8-1:0] s_act_a,
    input  wire [((CHAIN >= N) ? CHAIN / N : 1)*M*8-1:0] s_act_b,
    // output stream: one beat per pass
    output wire                               m_valid,
    input  wire                               m_ready,
    output wire [CHAIN/2-1:0]                 m_emit,
    output wire [(CHAIN/2)*(16+$clog2(CHAIN))-1:0] m_sum_a,
    output wire [(CHAIN/2)*(16+$clog2(CHAIN))-1:0] m_sum_b
);
    localparam NG   = CHAIN / 2;
    localparam IDXW = $clog2(M);
    localparam ACCW = 16 + $clog2(CHAIN);  // |sum| <= CHAIN * 128 * 128: exact
    localparam SUB  = (CHAIN >= N) ? N : CHAIN;
    localparam NSEG = CHAIN / SUB;

    // parameter checks (elaboration-time message, simulation stops)
    initial begin
        if (CHAIN < 4 || CHAIN % 2 != 0 || M < 2 || (M & (M - 1)) != 0 || N < 2 || N % 2 != 0 || N > M
            || (CHAIN % N != 0 && N % CHAIN != 0)) begin
            $display("sparse_dsp_chain: bad parameters CHAIN=%0d N=%0d M=%0d", CHAIN, N, M);
            $finish;
        end
    end

    // handshake and the valid pipeline (the only state besides data that needs a reset)
    reg  [CHAIN-1:0] vpipe;
    wire             en = !vpipe[CHAIN-1] || m_ready;
    assign s_ready = !rst && en;
    assign m_valid = vpipe[CHAIN-1];

    always @(posedge clk) begin
        if (rst)
            vpipe <= {CHAIN{1'b0}};
        else if (en)
            vpipe <= {vpipe[CHAIN-2:0], s_valid};
    end

    // the cascade between groups
    wire [ACCW-1:0] cas_a [0:NG];
    wire [ACCW-1:0] cas_b [0:NG];
    assign cas_a[0] = {ACCW{1'b0}};
    assign cas_b[0] = {ACCW{1'b0}};

    genvar g;
    generate
        for (g = 0; g < NG; g = g + 1) begin : g_dg
            sparse_dsp_group #(.G(g), .CHAIN(CHAIN), .M(M), .IDXW(IDXW), .ACCW(ACCW)) u_dg (
                .clk(clk), .rst(rst), .en(en),
                .cand0_a(s_act_a[((2 * g) / SUB) * M * 8 +: M * 8]),
                .cand0_b(s_act_b[((2 * g) / SUB) * M * 8 +: M * 8]),
                .cand1_a(s_act_a[((2 * g + 1) / SUB) * M * 8 +: M * 8]),
                .cand1_b(s_act_b[((2 * g + 1) / SUB) * M * 8 +: M * 8]),
                .idx0(s_idx[(2 * g) * IDXW +: IDXW]),
                .idx1(s_idx[(2 * g + 1) * IDXW +: IDXW]),
                .w0(s_w[(2 * g) * 8 +: 8]),
                .w1(s_w[(2 * g + 1) * 8 +: 8]),
                .cut(s_cut[g]),
                .pcin_a(cas_a[g]), .pcin_b(cas_b[g]),
                .cas_a(cas_a[g + 1]), .cas_b(cas_b[g + 1]),
                .emit(m_emit[g]),
                .sum_a(m_sum_a[g * ACCW +: ACCW]),
                .sum_b(m_sum_b[g * ACCW +: ACCW])
            );
        end
    endgenerate
endmodule
