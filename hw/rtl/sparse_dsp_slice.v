// sparse_dsp_slice: one behavioural packed DSP slice of the CSD-Chain (spec fpga_sparse_dsp.md 3.1).
//
//   cand_a/cand_b (M x INT8) --> sparse MUX (idx) --+
//   w (INT8) ----------------------------------------+--> input skew (SKEW regs) --> packed multiply
//   pcin_a/pcin_b (cascade) --------------------------------------------------------> + --> P reg --> pcout
//
// * Sparse MUX: picks, for both token lanes, the activation at position idx (log2(M) bits) of the M
//   candidates of this slice's K block (one select shared by the two lanes).
// * Input skew: SKEW enabled registers holding {w, a_A, a_B} (the slice's position j in the chain), so that
//   pass p meets the cascade partial sum of the same pass: pass p occupies slice j in cycle p + j.
//   No reset on the skew registers (data only; SRL-friendly).
// * Packed multiply (two INT8 MACs sharing one weight): one 27 x 8 signed product
//   w * (a_A * 2^18 + a_B) carries both lanes; the low 18 bits, read signed, are exactly w * a_B
//   (|w * a_B| <= 2^14 < 2^17) and (prod - lo) >>> 18 is exactly w * a_A (the borrow correction).
// * Cascade register P (one per lane, ACCW bits, exact): P <= pcin + product. Synchronous reset.
module sparse_dsp_slice #(
    parameter M    = 16,
    parameter IDXW = 4,
    parameter ACCW = 20,
    parameter SKEW = 0
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire                   en,
    input  wire [M*8-1:0]         cand_a,
    input  wire [M*8-1:0]         cand_b,
    input  wire [IDXW-1:0]        idx,
    input  wire [7:0]             w,
    input  wire signed [ACCW-1:0] pcin_a,
    input  wire signed [ACCW-1:0] pcin_b,
    output reg  signed [ACCW-1:0] pcout_a,
    output reg  signed [ACCW-1:0] pcout_b
);
    // sparse MUX (one select shared by the two lanes): {w, a_A, a_B} of this slice in this cycle
    wire [23:0] op_now = {w, cand_a[idx*8 +: 8], cand_b[idx*8 +: 8]};

    // input skew: SKEW registers of {w, a_A, a_B}; stage i at bits [24*i +: 24] (stage 0 = newest)
    wire [23:0] op_use;
    generate
        if (SKEW == 0) begin : g_noskew
            assign op_use = op_now;
        end else begin : g_skew
            reg [24*SKEW-1:0] skew;
            always @(posedge clk) begin
                if (en)
                    skew <= (skew << 24) | op_now;
            end
            assign op_use = skew[24*SKEW-1 -: 24];
        end
    endgenerate

    // packed multiply and the two-lane MAC into the cascade registers. The products are blocking
    // temporaries of the clocked block (combinational logic in synthesis, evaluated once per edge in
    // simulation).
    reg signed [7:0]  mul_w, mul_a, mul_b;
    reg signed [26:0] mul_packed;
    reg signed [34:0] mul_prod, mul_hi;
    reg signed [17:0] mul_lo;
    always @(posedge clk) begin
        if (rst) begin
            pcout_a <= {ACCW{1'b0}};
            pcout_b <= {ACCW{1'b0}};
        end else if (en) begin
            {mul_w, mul_a, mul_b} = op_use;
            mul_packed = $signed({mul_a, 18'd0}) + mul_b;    // a_A * 2^18 + a_B
            mul_prod   = mul_packed * mul_w;                 // one 27 x 8 product, both lanes
            mul_lo     = mul_prod[17:0];                     // = w * a_B exactly
            mul_hi     = (mul_prod - mul_lo) >>> 18;         // = w * a_A exactly (borrow corrected)
            pcout_a <= pcin_a + $signed(mul_hi[16:0]);
            pcout_b <= pcin_b + mul_lo;
        end
    end
endmodule
