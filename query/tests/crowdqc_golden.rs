//! CrowdQC+ levels m1 to m4 against the golden flags of the reference implementation
//! (CrowdQC+ v1.1.1), `shared/uhi-validation/` (see its README for files and expected counts).

use std::collections::HashSet;
use std::fs::File;
use std::time::Instant;

use arrow::array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use ilot_query::crowdqc::{CrowdQcGrid, m1, m2, m3, m4, m5};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const NETATMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/uhi-validation/netatmoBer_2017-06_crowdqcplus_1.1.1.parquet"
);
const SYNTHETIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/uhi-validation/crowdqcplus_example_synthetic_keep_isolated.parquet"
);

/// The grid plus the golden m1 to m4 flags of one file.
struct Golden {
    grid: CrowdQcGrid,
    m1: Vec<bool>,
    m2: Vec<bool>,
    m3: Vec<bool>,
    m4: Vec<bool>,
    m5: Vec<bool>,
    isolated: Vec<bool>,
}

fn f64_column(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let col = cast(col, &DataType::Float64).expect("cast to f64");
    let col = col.as_any().downcast_ref::<Float64Array>().expect("f64");
    col.iter().collect()
}

fn i64_column(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let col = cast(col, &DataType::Int64).expect("cast to i64");
    let col = col.as_any().downcast_ref::<Int64Array>().expect("i64");
    assert_eq!(col.null_count(), 0, "{name} has nulls");
    col.values().to_vec()
}

fn bool_column(batch: &RecordBatch, name: &str) -> Vec<bool> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let col = col.as_any().downcast_ref::<BooleanArray>().expect("bool");
    // A null flag counts as "not valid at this level".
    col.iter().map(|v| v.unwrap_or(false)).collect()
}

fn read_golden(path: &str) -> Golden {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet metadata")
        .with_batch_size(65_536)
        .build()
        .expect("parquet reader");
    let mut g = Golden {
        grid: CrowdQcGrid::default(),
        m1: Vec::new(),
        m2: Vec::new(),
        m3: Vec::new(),
        m4: Vec::new(),
        m5: Vec::new(),
        isolated: Vec::new(),
    };
    for batch in reader {
        let batch = batch.expect("record batch");
        let time = batch.column_by_name("time").expect("time");
        assert!(
            matches!(
                time.data_type(),
                DataType::Timestamp(TimeUnit::Millisecond, _)
            ),
            "time is {:?}",
            time.data_type()
        );
        g.grid.station.extend(i64_column(&batch, "p_id"));
        g.grid.time_ms.extend(i64_column(&batch, "time"));
        g.grid.ta.extend(f64_column(&batch, "ta"));
        g.grid.lon.extend(f64_column(&batch, "lon"));
        g.grid.lat.extend(f64_column(&batch, "lat"));
        g.grid.z.extend(f64_column(&batch, "z"));
        g.m1.extend(bool_column(&batch, "m1"));
        g.m2.extend(bool_column(&batch, "m2"));
        g.m3.extend(bool_column(&batch, "m3"));
        g.m4.extend(bool_column(&batch, "m4"));
        g.m5.extend(bool_column(&batch, "m5"));
        g.isolated.extend(bool_column(&batch, "isolated"));
    }
    g
}

/// (values passing, distinct stations with at least one passing value).
fn counts(grid: &CrowdQcGrid, flags: &[bool]) -> (usize, usize) {
    let stations: HashSet<i64> = flags
        .iter()
        .zip(&grid.station)
        .filter(|(f, _)| **f)
        .map(|(_, s)| *s)
        .collect();
    (flags.iter().filter(|f| **f).count(), stations.len())
}

fn mismatches(ours: &[bool], golden: &[bool]) -> (usize, usize, usize) {
    assert_eq!(ours.len(), golden.len());
    let ours_only = ours.iter().zip(golden).filter(|(o, g)| **o && !**g).count();
    let golden_only = ours.iter().zip(golden).filter(|(o, g)| !**o && **g).count();
    (ours_only + golden_only, ours_only, golden_only)
}

/// README counts (values passing, stations) for m1 to m4.
struct Expected {
    m1: (usize, usize),
    m2: (usize, usize),
    m3: (usize, usize),
    m4: (usize, usize),
    m5: (usize, usize),
    keep_isolated: bool,
}

fn check(name: &str, path: &str, expected: Expected) {
    let total = Instant::now();
    let Expected {
        m1: expected_m1,
        m2: expected_m2,
        m3: expected_m3,
        m4: expected_m4,
        m5: expected_m5,
        keep_isolated,
    } = expected;
    let start = Instant::now();
    let g = read_golden(path);
    let n = g.grid.len();
    let read = start.elapsed();
    let z_nulls = g.grid.z.iter().filter(|z| z.is_none()).count();

    let start = Instant::now();
    let ours_m1 = m1(&g.grid);
    let t_m1 = start.elapsed();
    let start = Instant::now();
    let ours_m2 = m2(&g.grid, &ours_m1);
    let t_m2 = start.elapsed();
    let start = Instant::now();
    let ours_m3 = m3(&g.grid, &ours_m2);
    let t_m3 = start.elapsed();
    let start = Instant::now();
    let ours_m4 = m4(&g.grid, &ours_m3);
    let t_m4 = start.elapsed();

    let (mm1, m1_ours_only, m1_golden_only) = mismatches(&ours_m1, &g.m1);
    let (mm2, m2_ours_only, m2_golden_only) = mismatches(&ours_m2, &g.m2);
    // m2 on the golden m1 isolates m2's own differences.
    let (mm2_iso, _, _) = mismatches(&m2(&g.grid, &g.m1), &g.m2);
    let (mm3, m3_ours_only, m3_golden_only) = mismatches(&ours_m3, &g.m3);
    let (mm3_iso, _, _) = mismatches(&m3(&g.grid, &g.m2), &g.m3);
    let (mm4, m4_ours_only, m4_golden_only) = mismatches(&ours_m4, &g.m4);
    let (mm4_iso, _, _) = mismatches(&m4(&g.grid, &g.m3), &g.m4);
    println!(
        "{name}: {n} rows ({z_nulls} without z), read {read:?}, m1 {t_m1:?}, m2 {t_m2:?}\n  \
         m1 mismatches {mm1} (ours only {m1_ours_only}, golden only {m1_golden_only}); \
         counts ours {:?} golden {:?}\n  \
         m2 mismatches {mm2} (ours only {m2_ours_only}, golden only {m2_golden_only}; \
         {mm2_iso} on golden m1); counts ours {:?} golden {:?}\n  \
         m3 {t_m3:?}: mismatches {mm3} (ours only {m3_ours_only}, golden only {m3_golden_only}; \
         {mm3_iso} on golden m2); counts ours {:?} golden {:?}\n  \
         m4 {t_m4:?}: mismatches {mm4} (ours only {m4_ours_only}, golden only {m4_golden_only}; \
         {mm4_iso} on golden m3); counts ours {:?} golden {:?}",
        counts(&g.grid, &ours_m1),
        counts(&g.grid, &g.m1),
        counts(&g.grid, &ours_m2),
        counts(&g.grid, &g.m2),
        counts(&g.grid, &ours_m3),
        counts(&g.grid, &g.m3),
        counts(&g.grid, &ours_m4),
        counts(&g.grid, &g.m4),
    );

    // The golden files themselves match the README.
    assert_eq!(
        counts(&g.grid, &g.m1),
        expected_m1,
        "{name}: golden m1 counts"
    );
    assert_eq!(
        counts(&g.grid, &g.m2),
        expected_m2,
        "{name}: golden m2 counts"
    );
    assert_eq!(
        counts(&g.grid, &g.m3),
        expected_m3,
        "{name}: golden m3 counts"
    );
    assert_eq!(
        counts(&g.grid, &g.m4),
        expected_m4,
        "{name}: golden m4 counts"
    );

    assert_eq!(mm1, 0, "{name}: m1 mismatches");
    assert_eq!(counts(&g.grid, &ours_m1), expected_m1, "{name}: m1 counts");
    // At most 0.01 % of rows (near-tie flips of the robust z-score).
    assert!(mm2 * 10_000 <= n, "{name}: {mm2} m2 mismatches of {n} rows");
    let (ours_values, ours_stations) = counts(&g.grid, &ours_m2);
    assert!(
        ours_values.abs_diff(expected_m2.0) * 10_000 <= n,
        "{name}: m2 value count"
    );
    assert_eq!(ours_stations, expected_m2.1, "{name}: m2 station count");

    assert_eq!(mm3_iso, 0, "{name}: m3 mismatches on golden m2");
    assert_eq!(mm3, 0, "{name}: m3 mismatches");
    assert_eq!(counts(&g.grid, &ours_m3), expected_m3, "{name}: m3 counts");
    assert_eq!(mm4_iso, 0, "{name}: m4 mismatches on golden m3");
    assert_eq!(mm4, 0, "{name}: m4 mismatches");
    assert_eq!(counts(&g.grid, &ours_m4), expected_m4, "{name}: m4 counts");

    let start = Instant::now();
    let (ours_m5, ours_iso) = m5(&g.grid, &ours_m4, keep_isolated);
    let t_m5 = start.elapsed();
    let (mm5, m5_ours_only, m5_golden_only) = mismatches(&ours_m5, &g.m5);
    let (mm_iso, _, _) = mismatches(&ours_iso, &g.isolated);
    println!(
        "{name}: m5 {t_m5:?}: mismatches {mm5} (ours only {m5_ours_only}, golden only \
         {m5_golden_only}); isolated mismatches {mm_iso}; counts ours {:?} golden {:?}",
        counts(&g.grid, &ours_m5),
        counts(&g.grid, &g.m5),
    );
    assert_eq!(
        counts(&g.grid, &g.m5),
        expected_m5,
        "{name}: golden m5 counts"
    );
    assert_eq!(mm_iso, 0, "{name}: isolated mismatches");
    // At most 0.01 % of rows (near-tie flips of the buddy score).
    assert!(mm5 * 10_000 <= n, "{name}: {mm5} m5 mismatches of {n} rows");
    let (ours_values, ours_stations) = counts(&g.grid, &ours_m5);
    assert!(
        ours_values.abs_diff(expected_m5.0) * 10_000 <= n,
        "{name}: m5 value count"
    );
    assert_eq!(ours_stations, expected_m5.1, "{name}: m5 station count");
    println!("{name}: total {:?}", total.elapsed());
}

#[test]
fn netatmo_berlin_june_2017_m1_to_m4() {
    check(
        "netatmo",
        NETATMO,
        Expected {
            m1: (1_461_204, 2_346),
            m2: (1_308_343, 2_335),
            m3: (1_300_016, 2_190),
            m4: (1_280_678, 2_134),
            m5: (1_103_329, 2_076),
            keep_isolated: false,
        },
    );
}

#[test]
fn synthetic_keep_isolated_m1_to_m4() {
    check(
        "synthetic",
        SYNTHETIC,
        Expected {
            m1: (275_666, 594),
            m2: (260_503, 590),
            m3: (258_451, 577),
            m4: (230_233, 528),
            m5: (130_732, 473),
            keep_isolated: true,
        },
    );
}
