# Bar chart of the benchmark's ratios to bare. Called by bench/report.sh:
#   gnuplot -e "data='ratios.dat'; targets='ratios.dat.targets'; out='ratios.png'; subtitle='...'" bench/ratios.gp
# `data` has one row per workload and one column per configuration (× bare).
set terminal pngcairo size 1100,620 font "DejaVu Sans,11" noenhanced
set output out
set title "resql benchmark: time relative to bare SQLite (median of rounds; lower is better)\n".subtitle
set datafile separator "\t"
set datafile missing "?"
set key autotitle columnheader      # the first line names the columns, in every plot
set style data histograms
set style histogram clustered gap 1.5   # = gap below
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.5:*]
set ytics ("0.5" 0.5, "1" 1, "1.5" 1.5, "2" 2, "3" 3, "4" 4, "6" 6, "8" 8, "12" 12, "16" 16, "24" 24, "32" 32)
set ylabel "× bare (log scale)"
set grid ytics lc rgb "#dddddd"
set key outside right top vertical title "configuration"
set xtics nomirror
set border 3
set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#000000" lw 1.5 dt 2
set label "bare = 1" at graph 0.005, first 1.06 font ",9"
colors = "#7f7f7f #bcbd22 #1f77b4 #17becf #2ca02c #d62728"
stats data using 2 nooutput
ncols = STATS_columns          # the workload column and the configurations
nbars = ncols - 1
gap = 1.5
# A bar's centre in a clustered histogram: cluster c (0-based), bar b (0-based).
xpos(c, b) = c + (b - (nbars - 1) / 2.0) / (nbars + gap)
half = 0.6 / (nbars + gap)
# `targets` (written by bench --plot-data): cluster, bar, limit (× bare) per target.
plot for [i=2:ncols] data using i:xtic(1) title columnheader(i) lc rgb word(colors, i-1), \
     for [i=2:ncols] data using (xpos($0, i - 2)):(column(i)):(sprintf("%.1f", column(i))) \
         with labels rotate by 90 left offset 0,0.4 font ",8" notitle, \
     targets using (xpos($1, $2) - half):3:(2 * half):(0) with vectors nohead lw 3 lc rgb "#000000" \
         title "target (limit)"
