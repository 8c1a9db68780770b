// lut_gemv_unit: T-MAC LUT-GEMV of one int8 activation vector (K elements) against R rows of WBITS-bit
// weight codes (spec lut_pim.md 2.2-2.4; bit-exact with kernels_ref.lut.lut_gemv_int).
//
// Function (integers, per vector):
//   T_j[p]  = sum_{t<4} (2*bit_t(p) - 1) * a[4j+t]                    16-entry table of group j = 0..K/4-1
//   p_{i,r,j} = sum_{t<4} bit_i(q[r][4j+t]) * 2^t                      index of plane i, row r, group j
//   y[r]    = sum_{i<WBITS} 2^i * sum_j T_j[p_{i,r,j}] + sum_j T_j[0]   (= 2 * sum_k (q[r][k] - 2^(WBITS-1)) * a[k])
// Mirror consolidation: the build engine computes only the 8 odd entries (a0 +- a1 +- a2 +- a3) and
// writes their negations as the 8 even ones (T_j[15-p] = -T_j[p]); the offset sum_j T_j[0] = -sum(a) is
// accumulated during the build from the negation of entry 15 and preloads every row's accumulator.
//
// Structure: one table build engine (one 16-entry table per cycle, K/4 tables in registers) and one
// lookup/accumulate datapath (one table lookup, a shift by the plane index and one add per cycle).
//
// Protocol (valid/ready, a transfer happens on a rising edge with valid && ready; rst is synchronous):
//   a_*  activations, K/4 beats per vector, beat j = {a[4j+3], a[4j+2], a[4j+1], a[4j]} (ABITS each,
//        two's complement, a[4j] in the low bits). a_ready is high only in the build phase.
//   w_*  weight codes, R*K/4 beats per vector in row-major order (row r, then group j), beat (r, j) =
//        {q[r][4j+3], .., q[r][4j]} (WBITS-bit unsigned codes, q[r][4j] in the low bits). Accepted only
//        after the vector's K/4 activation beats (lookup phase).
//   y_*  R results per vector in row order, signed, ABITS+WBITS+clog2(K)+1 bits.
//   The unit handles one vector at a time: build (K/4 a-beats), then lookups (R*K/4 w-beats, WBITS
//   lookups each), then it returns to the build phase for the next vector.
//
// Latency / throughput (G = K/4; valid always high on a and w, y_ready always high):
//   a-beat j transfers at cycle j (j = 0..G-1, the first at cycle 0), w-beat n at cycle G + n*WBITS,
//   lookup (n, i) at cycle G + n*WBITS + 1 + i, y[r] transfers at cycle G + (r+1)*WBITS*G + 1, so
//     cycles from first input to last output = G*(1 + R*WBITS) + 1 = (K/4)*(1 + R*WBITS) + 1,
//   and the next vector's first a-beat transfers in the cycle of the last y transfer: one vector every
//   (K/4)*(1 + R*WBITS) + 1 cycles (= archsim.sim.units.lut_gemv.cycles). Gaps in a_valid/w_valid add
//   their length; y_ready low stalls the datapath only at the end of a row while y is still held.
module lut_gemv_unit #(
    parameter R     = 4,   // output rows per vector
    parameter WBITS = 2,   // weight bits = bit planes, 1..4
    parameter ABITS = 8,   // activation bits (int8)
    parameter K     = 16   // vector length, a multiple of 4
) (
    input  wire                              clk,
    input  wire                              rst,
    input  wire                              a_valid,
    output wire                              a_ready,
    input  wire [4*ABITS-1:0]                a_data,
    input  wire                              w_valid,
    output wire                              w_ready,
    input  wire [4*WBITS-1:0]                w_data,
    output reg                               y_valid,
    input  wire                              y_ready,
    output reg  [ABITS+WBITS+$clog2(K):0]    y_data
);
    localparam G  = K / 4;                       // tables (activation groups) per vector
    localparam TW = ABITS + 3;                   // table entry width: |T| <= 4 * 2^(ABITS-1)
    localparam YW = ABITS + WBITS + $clog2(K) + 1;  // |y| <= K * 2^(WBITS+ABITS-1)
    localparam GW = (G > 1) ? $clog2(G) : 1;
    localparam RB = (R > 1) ? $clog2(R) : 1;
    localparam PW = (WBITS > 1) ? $clog2(WBITS) : 1;

    // ---------------- table build engine: 8 odd entries, 8 mirrored negations ----------------
    wire signed [TW-1:0] x0 = {{3{a_data[1*ABITS-1]}}, a_data[0*ABITS +: ABITS]};
    wire signed [TW-1:0] x1 = {{3{a_data[2*ABITS-1]}}, a_data[1*ABITS +: ABITS]};
    wire signed [TW-1:0] x2 = {{3{a_data[3*ABITS-1]}}, a_data[2*ABITS +: ABITS]};
    wire signed [TW-1:0] x3 = {{3{a_data[4*ABITS-1]}}, a_data[3*ABITS +: ABITS]};

    wire [16*TW-1:0] new_table;                  // entry p at bits [p*TW +: TW]
    genvar e;
    generate
        for (e = 0; e < 8; e = e + 1) begin : g_entry
            // odd entry p = 2e+1: a0 enters with +, bit t of p (t = 1..3) = bit t-1 of e gives a_t's sign
            wire signed [TW-1:0] s1 = (e & 1) ? x1 : -x1;
            wire signed [TW-1:0] s2 = (e & 2) ? x2 : -x2;
            wire signed [TW-1:0] s3 = (e & 4) ? x3 : -x3;
            wire signed [TW-1:0] odd = x0 + s1 + s2 + s3;
            assign new_table[(2*e+1)*TW +: TW]  = odd;
            assign new_table[(14-2*e)*TW +: TW] = -odd;   // mirror: T[15-p] = -T[p]
        end
    endgenerate

    reg              building;                   // 1: build phase (a accepted), 0: lookup phase
    reg [GW-1:0]     bj;                         // table being built
    reg [YW-1:0]     omega;                      // sum_j T_j[0] = -sum(a)
    wire             a_fire = a_valid && a_ready;
    wire [YW-1:0]    t0_ext = {{(YW-TW){new_table[TW-1]}}, new_table[0 +: TW]};  // T_bj[0] = -(a0+a1+a2+a3)
    wire [YW-1:0]    omega_next = (bj == 0) ? t0_ext : omega + t0_ext;
    assign a_ready = building;

    wire [16*G*TW-1:0] tables;                   // table j, entry p at bits [(16*j+p)*TW +: TW]
    genvar gj;
    generate
        for (gj = 0; gj < G; gj = gj + 1) begin : g_table
            reg [16*TW-1:0] tbl;
            always @(posedge clk)
                if (a_fire && bj == gj)
                    tbl <= new_table;
            assign tables[16*TW*gj +: 16*TW] = tbl;
        end
    endgenerate

    // ---------------- lookup / accumulate datapath: one lookup per cycle ----------------
    reg               wq_valid;                  // a weight beat is held in wq
    reg [4*WBITS-1:0] wq;
    reg [GW-1:0]      lj;                        // group of the held beat
    reg [RB-1:0]      lr;                        // row of the held beat
    reg [PW-1:0]      pl;                        // plane looked up this cycle
    reg [YW-1:0]      acc;

    wire last_plane = (pl == WBITS - 1);
    wire last_group = (lj == G - 1);
    wire last_row   = (lr == R - 1);
    wire row_done   = wq_valid && last_plane && last_group;
    wire stall      = row_done && y_valid && !y_ready;   // result register still held
    wire step       = wq_valid && !stall;               // one lookup this cycle
    assign w_ready  = !building && (!wq_valid || (last_plane && !stall && !(last_group && last_row)));
    wire w_fire     = w_valid && w_ready;

    wire [3:0] idx = {wq[3*WBITS + pl], wq[2*WBITS + pl], wq[1*WBITS + pl], wq[0*WBITS + pl]};
    wire [TW-1:0] entry = tables[({lj, 4'b0000} + idx) * TW +: TW];
    wire [YW-1:0] entry_ext = {{(YW-TW){entry[TW-1]}}, entry};
    wire [YW-1:0] term = entry_ext << pl;               // plane weight 2^i
    wire [YW-1:0] acc_next = acc + term;

    always @(posedge clk) begin
        if (rst) begin
            building <= 1'b1;
            bj       <= 0;
            wq_valid <= 1'b0;
            lj       <= 0;
            lr       <= 0;
            pl       <= 0;
            y_valid  <= 1'b0;
        end else begin
            if (a_fire) begin
                omega <= omega_next;
                if (bj == G - 1) begin
                    bj       <= 0;
                    building <= 1'b0;
                    acc      <= omega_next;          // row 0 starts from the offset term
                end else begin
                    bj <= bj + 1'b1;
                end
            end
            if (y_valid && y_ready)
                y_valid <= 1'b0;
            if (step) begin
                if (row_done) begin
                    y_data  <= acc_next;
                    y_valid <= 1'b1;
                    acc     <= omega;                // next row starts from the offset term
                    if (last_row)
                        building <= 1'b1;
                end else begin
                    acc <= acc_next;
                end
                if (last_plane) begin
                    pl <= 0;
                    wq_valid <= 1'b0;
                    if (last_group) begin
                        lj <= 0;
                        lr <= last_row ? {RB{1'b0}} : lr + 1'b1;
                    end else begin
                        lj <= lj + 1'b1;
                    end
                end else begin
                    pl <= pl + 1'b1;
                end
            end
            if (w_fire) begin
                wq       <= w_data;
                wq_valid <= 1'b1;
            end
        end
    end
endmodule
