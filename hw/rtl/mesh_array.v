// mesh_array: a P x P array of mesh_pe running MeshGEMM on INTERLEAVE rings (spec wafer_mesh.md 4.2-4.5),
// C = A x B for N x N int8 A, B and int32 C, N = P*T; PE (y, x) (row y, column x) owns tile (y, x) of
// A, B and C (T x T each). Bit-exact with kernels_ref.mesh.meshgemm; the per-step tile placement is
// kernels_ref.mesh.meshgemm_schedule(P) (P = 2: the same rule on the trivial 2-ring 0 -> 1 -> 0).
//
// INTERLEAVE ring of a line of P PEs (a row for A, a column for B; spec 4.3):
//   phi(k) = 2k if 2k <= P-1 else 2(P-k)-1 (logical ring position k -> physical position); the ring
//   climbs the even positions and descends the odd ones, so every ring edge is 1 or 2 physical hops.
//   A "back" move sends the tile at logical k+1 to logical k (the compute-shift direction), a "forward"
//   move the tile at logical k-1 to logical k.
// Two-hop moves pass through the PE in between (relay): in hop 1 that PE's relay register latches the
//   source tile, in hop 2 the destination takes it from the relay register. A 1-hop move lands in hop 1.
//   A shift therefore lasts SH = 2 cycles (SH = 1 for P = 2, whose ring has only 1-hop edges); all
//   lines move in lock-step and every PE's relay register serves at most one stream per axis/direction.
//
// Phases (one product at a time; rst is synchronous, active high, and returns to LOAD):
//   LOAD   2*N*N cycles: in_ready = 1; the elements of A then of B, each in row-major order of the
//          N x N matrix (element (r, c) goes to PE (r/T, c/T), tile element (r%T, c%T)); in_data is
//          int8 two's complement. PE (y, x) holds tiles A[y][x] and B[y][x] (kernels_ref partition).
//          C is cleared.
//   ALIGN  floor(P/2) lock-step rounds of SH cycles (Cannon's pre-skew on the rings, spec 4.5): A row
//          y shifts y/2 rounds back (even y) or (y+1)/2 rounds forward (odd y) along X; B column x does
//          the same along Y with x (B is aligned in the array on the disjoint Y links, concurrently with
//          A, instead of the released kernel's host pre-skew: same cycles). Afterwards PE (y, x) holds
//          A tile [y][m] and B tile [m][x], m = phi(phi^-1(y) + phi^-1(x) mod P).
//   STEP   P steps of L = max(T^3, SH) cycles: the MAC runs the T^3 products of C += A_tile x B_tile
//          (cycles 0..T^3-1, k innermost) while A moves one position back along every row ring and B
//          along every column ring (hop 1 in cycle 0, hop 2 in cycle 1, into the receive buffers);
//          the barrier at the step's last cycle swaps the landed tiles in.
//   DRAIN  N*N cycles: out_valid = 1; C in row-major order (out_data int32, out_last on the last one);
//          out_ready low stalls the drain.
// Latency (in_valid always high, out_ready always high): the first input is accepted in cycle 0 and
//   the last output is valid in cycle CYC-1 (CYC cycles, both counted inclusive), with
//     CYC = 3*N^2 + SH*floor(P/2) + P*max(T^3, SH),   SH = 2 (P >= 3) or 1 (P = 2)
//   (archsim.sim.units.mesh_array.cycles). Every cycle with in_valid low in LOAD or out_ready low in
//   DRAIN adds one cycle. The next product's first input is accepted the cycle after the last output.
// Links are tile-wide (T*T*8 bits, a tile per hop per cycle). Drain: every PE puts C element (i, j) on
// its c_out (the drain counter's in-tile indices, broadcast) and the array selects PE (y, x): a T*T-way
// mux in each PE and a P*P-way mux at the output port. Requires P >= 2, T >= 1, T <= 15.
module mesh_array #(
    parameter P = 4,   // array side: P x P PEs
    parameter T = 2    // tile side: T x T elements per PE; N = P*T
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,
    output wire        in_ready,
    input  wire [7:0]  in_data,
    output wire        out_valid,
    input  wire        out_ready,
    output wire [31:0] out_data,
    output wire        out_last
);
    // ---------------- constant functions: the INTERLEAVE ring ----------------
    function integer phi;  // logical ring position k -> physical position on a line of n PEs
        input integer n;
        input integer k;
        begin
            phi = (2 * k <= n - 1) ? 2 * k : 2 * (n - k) - 1;
        end
    endfunction

    function integer ring_src;  // physical position whose tile lands on position i in one ring move
        input integer n;
        input integer i;
        input integer fwd;      // 0: back move (logical k+1 -> k), 1: forward move (k-1 -> k)
        integer k, pos;
        begin
            pos = 0;
            for (k = 0; k < n; k = k + 1)
                if (phi(n, k) == i) pos = k;
            ring_src = fwd ? phi(n, (pos + n - 1) % n) : phi(n, (pos + 1) % n);
        end
    endfunction

    function integer bits;  // register width for the values 0..n-1 (at least 1)
        input integer n;
        integer v;
        begin
            bits = 1;
            for (v = 2; v < n; v = v * 2) bits = bits + 1;
        end
    endfunction

    localparam N    = P * T;
    localparam TW   = T * T * 8;             // bits of an A or B tile
    localparam SH   = (P >= 3) ? 2 : 1;      // cycles of one ring shift = longest ring edge in hops
    localparam NAL  = P / 2;                 // alignment rounds
    localparam T3   = T * T * T;             // MACs per tile product
    localparam L    = (T3 > SH) ? T3 : SH;   // cycles per compute-shift step
    localparam PB   = bits(P);
    localparam TB   = bits(T);
    localparam LB   = bits(L);

    localparam [1:0] S_LOAD = 2'd0, S_ALIGN = 2'd1, S_STEP = 2'd2, S_DRAIN = 2'd3;

    // ---------------- controller ----------------
    reg [1:0]    state;
    reg          ld_m;                 // 0: loading A, 1: loading B
    reg [PB-1:0] ld_ti, ld_tj;         // tile row / column of the element being loaded
    reg [TB-1:0] ld_ei, ld_ej;         // element row / column inside the tile
    reg [PB-1:0] rnd;                  // alignment round
    reg [PB-1:0] step;                 // compute-shift step
    reg [LB-1:0] t;                    // cycle inside the round / step
    reg [TB-1:0] mi, mj, mk;           // MAC indices
    reg [PB-1:0] dr_y, dr_x;           // drain: tile row / column of the output element
    reg [TB-1:0] dr_i, dr_j;           // drain: element row / column inside the tile

    assign in_ready  = (state == S_LOAD) && !rst;
    assign out_valid = (state == S_DRAIN) && !rst;
    wire   last_out  = (dr_y == P - 1) && (dr_i == T - 1) && (dr_x == P - 1) && (dr_j == T - 1);
    assign out_last  = out_valid && last_out;
    wire in_fire  = in_valid && in_ready;
    wire out_fire = out_valid && out_ready;
    wire last_in  = ld_m && (ld_ti == P - 1) && (ld_ei == T - 1) && (ld_tj == P - 1) && (ld_ej == T - 1);
    wire mac_en   = (state == S_STEP) && (t < T3);

    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD;
            ld_m <= 1'b0; ld_ti <= 0; ld_tj <= 0; ld_ei <= 0; ld_ej <= 0;
            rnd <= 0; step <= 0; t <= 0; mi <= 0; mj <= 0; mk <= 0;
            dr_y <= 0; dr_x <= 0; dr_i <= 0; dr_j <= 0;
        end else begin
            case (state)
                S_LOAD: if (in_fire) begin
                    // row-major over the N x N matrix: column (tj, ej) fastest, then row (ti, ei)
                    if (ld_ej != T - 1) ld_ej <= ld_ej + 1'b1;
                    else begin
                        ld_ej <= 0;
                        if (ld_tj != P - 1) ld_tj <= ld_tj + 1'b1;
                        else begin
                            ld_tj <= 0;
                            if (ld_ei != T - 1) ld_ei <= ld_ei + 1'b1;
                            else begin
                                ld_ei <= 0;
                                if (ld_ti != P - 1) ld_ti <= ld_ti + 1'b1;
                                else begin
                                    ld_ti <= 0;
                                    ld_m <= ~ld_m;
                                end
                            end
                        end
                    end
                    if (last_in) begin
                        state <= S_ALIGN;
                        rnd <= 0;
                        t <= 0;
                    end
                end
                S_ALIGN: begin
                    if (t != SH - 1) t <= t + 1'b1;
                    else begin
                        t <= 0;
                        if (rnd != NAL - 1) rnd <= rnd + 1'b1;
                        else begin
                            state <= S_STEP;
                            step <= 0;
                            mi <= 0; mj <= 0; mk <= 0;
                        end
                    end
                end
                S_STEP: begin
                    if (mac_en) begin
                        if (mk != T - 1) mk <= mk + 1'b1;
                        else begin
                            mk <= 0;
                            if (mj != T - 1) mj <= mj + 1'b1;
                            else begin
                                mj <= 0;
                                mi <= (mi != T - 1) ? mi + 1'b1 : {TB{1'b0}};
                            end
                        end
                    end
                    if (t != L - 1) t <= t + 1'b1;
                    else begin
                        t <= 0;
                        if (step != P - 1) step <= step + 1'b1;
                        else state <= S_DRAIN;
                    end
                end
                default: if (out_fire) begin  // S_DRAIN, row-major like the load
                    if (dr_j != T - 1) dr_j <= dr_j + 1'b1;
                    else begin
                        dr_j <= 0;
                        if (dr_x != P - 1) dr_x <= dr_x + 1'b1;
                        else begin
                            dr_x <= 0;
                            if (dr_i != T - 1) dr_i <= dr_i + 1'b1;
                            else begin
                                dr_i <= 0;
                                dr_y <= (dr_y != P - 1) ? dr_y + 1'b1 : {PB{1'b0}};
                            end
                        end
                    end
                    if (last_out) state <= S_LOAD;
                end
            endcase
        end
    end

    // shift timing shared by ALIGN and STEP
    wire shifting = (state == S_ALIGN) || (state == S_STEP);
    wire hop1     = shifting && (t == 0);
    wire hop2     = shifting && (SH == 2) && (t == 1);
    wire barrier  = ((state == S_ALIGN) && (t == SH - 1)) || ((state == S_STEP) && (t == L - 1));
    wire aligning = (state == S_ALIGN);

    // load broadcast
    wire [7:0] ld_e = ld_ei * T + ld_ej;

    // ---------------- the PE grid ----------------
    // per-PE tiles, PE (y, x) at index y*P + x (net arrays: a PE's update wakes only its own readers)
    wire [TW-1:0] a_q [0:P*P-1];    // current A tile
    wire [TW-1:0] b_q [0:P*P-1];    // current B tile
    wire [TW-1:0] a_re [0:P*P-1];   // relay register, A stream moving east
    wire [TW-1:0] a_rw [0:P*P-1];   // relay register, A stream moving west
    wire [TW-1:0] b_rs [0:P*P-1];   // relay register, B stream moving south
    wire [TW-1:0] b_rn [0:P*P-1];   // relay register, B stream moving north
    wire [P*P*32-1:0] c_sel_all;    // C element (dr_i, dr_j) of every PE
    // the same tiles as flat vectors (observation only: the testbench checks the per-step placement)
    wire [P*P*TW-1:0] a_cur_all, b_cur_all, a_rly_e_all, a_rly_w_all, b_rly_s_all, b_rly_n_all;

    genvar gy, gx;
    generate
        for (gy = 0; gy < P; gy = gy + 1) begin : g_y
            for (gx = 0; gx < P; gx = gx + 1) begin : g_x
                localparam ID = gy * P + gx;
                // ring sources of this PE: A along its row (position gx), B along its column (position gy)
                localparam DAB = ring_src(P, gx, 0) - gx;   // A, back move: -2, -1, +1 or +2 hops
                localparam DAF = ring_src(P, gx, 1) - gx;   // A, forward move
                localparam DBB = ring_src(P, gy, 0) - gy;   // B, back move
                localparam DBF = ring_src(P, gy, 1) - gy;   // B, forward move
                // alignment of this row (A) and column (B): rounds and direction (spec 4.5)
                localparam ACNT = (gy % 2 == 0) ? gy / 2 : (gy + 1) / 2;
                localparam BCNT = (gx % 2 == 0) ? gx / 2 : (gx + 1) / 2;

                // neighbour tiles: 1 hop = the neighbour's current tile, 2 hops = the relay register of
                // the neighbour in between, holding the tile of the PE beyond it
                wire [TW-1:0] a_w1, a_e1, a_w2, a_e2, b_n1, b_s1, b_n2, b_s2;
                if (gx > 0) begin : g_w
                    assign a_w1 = a_q[ID - 1];
                    assign a_w2 = a_re[ID - 1];
                end else begin : g_w0
                    assign a_w1 = {TW{1'b0}};
                    assign a_w2 = {TW{1'b0}};
                end
                if (gx < P - 1) begin : g_e
                    assign a_e1 = a_q[ID + 1];
                    assign a_e2 = a_rw[ID + 1];
                end else begin : g_e0
                    assign a_e1 = {TW{1'b0}};
                    assign a_e2 = {TW{1'b0}};
                end
                if (gy > 0) begin : g_n
                    assign b_n1 = b_q[ID - P];
                    assign b_n2 = b_rs[ID - P];
                end else begin : g_n0
                    assign b_n1 = {TW{1'b0}};
                    assign b_n2 = {TW{1'b0}};
                end
                if (gy < P - 1) begin : g_s
                    assign b_s1 = b_q[ID + P];
                    assign b_s2 = b_rn[ID + P];
                end else begin : g_s0
                    assign b_s1 = {TW{1'b0}};
                    assign b_s2 = {TW{1'b0}};
                end

                wire [TW-1:0] a_land_b = (DAB == -1) ? a_w1 : (DAB == 1) ? a_e1 : (DAB == -2) ? a_w2 : a_e2;
                wire [TW-1:0] a_land_f = (DAF == -1) ? a_w1 : (DAF == 1) ? a_e1 : (DAF == -2) ? a_w2 : a_e2;
                wire [TW-1:0] b_land_b = (DBB == -1) ? b_n1 : (DBB == 1) ? b_s1 : (DBB == -2) ? b_n2 : b_s2;
                wire [TW-1:0] b_land_f = (DBF == -1) ? b_n1 : (DBF == 1) ? b_s1 : (DBF == -2) ? b_n2 : b_s2;

                // this line moves in the current round/step, and in which direction
                wire a_act = (state == S_STEP) || (aligning && (rnd < ACNT));
                wire b_act = (state == S_STEP) || (aligning && (rnd < BCNT));
                wire a_fwd = aligning && (gy % 2 == 1);
                wire b_fwd = aligning && (gx % 2 == 1);
                wire a_two = a_fwd ? (DAF == 2 || DAF == -2) : (DAB == 2 || DAB == -2);
                wire b_two = b_fwd ? (DBF == 2 || DBF == -2) : (DBB == 2 || DBB == -2);

                mesh_pe #(.T(T)) u_pe (
                    .clk(clk),
                    .ld_en(in_fire && (ld_ti == gy) && (ld_tj == gx)),
                    .ld_b(ld_m),
                    .ld_e(ld_e),
                    .ld_data(in_data),
                    .rly_en(hop1),
                    .a_from_w(a_w1),
                    .a_from_e(a_e1),
                    .b_from_n(b_n1),
                    .b_from_s(b_s1),
                    .a_land_en(a_act && (a_two ? hop2 : hop1)),
                    .a_land(a_fwd ? a_land_f : a_land_b),
                    .a_swap(a_act && barrier),
                    .b_land_en(b_act && (b_two ? hop2 : hop1)),
                    .b_land(b_fwd ? b_land_f : b_land_b),
                    .b_swap(b_act && barrier),
                    .c_clr(state == S_LOAD),
                    .mac_en(mac_en),
                    .mac_i({{(8 - TB){1'b0}}, mi}),
                    .mac_j({{(8 - TB){1'b0}}, mj}),
                    .mac_k({{(8 - TB){1'b0}}, mk}),
                    .dr_i({{(8 - TB){1'b0}}, dr_i}),
                    .dr_j({{(8 - TB){1'b0}}, dr_j}),
                    .c_out(c_sel_all[ID * 32 +: 32]),
                    .a_cur(a_q[ID]),
                    .b_cur(b_q[ID]),
                    .a_rly_e(a_re[ID]),
                    .a_rly_w(a_rw[ID]),
                    .b_rly_s(b_rs[ID]),
                    .b_rly_n(b_rn[ID])
                );

                assign a_cur_all[ID * TW +: TW]   = a_q[ID];
                assign b_cur_all[ID * TW +: TW]   = b_q[ID];
                assign a_rly_e_all[ID * TW +: TW] = a_re[ID];
                assign a_rly_w_all[ID * TW +: TW] = a_rw[ID];
                assign b_rly_s_all[ID * TW +: TW] = b_rs[ID];
                assign b_rly_n_all[ID * TW +: TW] = b_rn[ID];
            end
        end
    endgenerate

    assign out_data = c_sel_all[(dr_y * P + dr_x) * 32 +: 32];
endmodule
