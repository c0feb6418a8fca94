# SPDX-License-Identifier: MIT
# bench-plot.gp: delivery latency (p50, p99) against delivered messages per
# second for rooms of 100, chat-gateway vs the Node reference.
# gnuplot -e "datafile='plot.dat'; outfile='x.svg'" bench-plot.gp
set terminal svg size 800,480 dynamic background rgb 'white' font 'sans,12'
set output outfile
set title 'Room fan-out, rooms of 100: latency vs throughput (same machine, loopback)'
set xlabel 'offered deliveries per second (msg/s x 100 members)'
set ylabel 'delivery latency (ms, log scale)'
set logscale y
set logscale x
set grid
set key bottom right box opaque
plot datafile index 0 using 1:4 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'chat-gateway p99', \
     datafile index 0 using 1:3 with linespoints lw 1 pt 6 dt 2 lc rgb '#1f77b4' title 'chat-gateway p50', \
     datafile index 1 using 1:4 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'Node reference p99', \
     datafile index 1 using 1:3 with linespoints lw 1 pt 4 dt 2 lc rgb '#d62728' title 'Node reference p50'
